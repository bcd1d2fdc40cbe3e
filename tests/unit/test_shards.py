"""Sharded review files: which files a data.path names, the seeded hash split, word counts that merge, the
config rules of data.source: files, and the shard writer. (Reading them with Ray Data: tests/ray/test_shards.py.)"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from seqlab.data.shards import assign_splits, list_shards, split_hash, write_shards
from seqlab.data.synthetic import synthetic_reviews
from seqlab.data.text import WordIndex, count_words
from seqlab.errors import ConfigError, DataError
from seqlab.tasks import load_config


def _frame(n: int = 6) -> pd.DataFrame:
    return pd.DataFrame({"text": [f"review number {i}" for i in range(n)], "label": [i % 2 for i in range(n)]})


def test_a_folder_names_its_data_files_below_it_sorted_and_skips_markers(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    _frame().to_parquet(tmp_path / "b" / "part-1.parquet")
    _frame().to_parquet(tmp_path / "part-0.parquet")
    (tmp_path / "_SUCCESS").write_text("")
    (tmp_path / "README.txt").write_text("not data")
    files = list_shards(str(tmp_path))
    assert files.format == "parquet"
    assert [Path(f).relative_to(tmp_path).as_posix() for f in files.files] == ["b/part-1.parquet", "part-0.parquet"]
    assert all(size > 0 for size in files.sizes)


def test_a_glob_and_a_single_file_name_exactly_those(tmp_path: Path) -> None:
    for i in range(3):
        _frame().to_csv(tmp_path / f"part-{i}.csv", index=False)
    _frame().to_parquet(tmp_path / "other.parquet")
    assert len(list_shards(str(tmp_path / "part-*.csv")).files) == 3
    one = list_shards(str(tmp_path / "part-1.csv"))
    assert one.files == (str(tmp_path / "part-1.csv"),) and one.format == "csv"


@pytest.mark.parametrize("setup, path, expected", [
    (lambda d: None, "missing", "no such file or folder"),
    (lambda d: (d / "part-0.csv").write_text(""), ".", "part-0.csv: empty file"),
    (lambda d: (d / "notes.txt").write_text("x"), ".", "no data file there"),
    (lambda d: (_frame().to_csv(d / "a.csv"), _frame().to_parquet(d / "b.parquet")), ".",
     "cannot tell the format from the file names"),
])
def test_a_path_without_usable_files_is_a_data_error_naming_it(tmp_path: Path, setup, path: str,  # type: ignore[no-untyped-def]
                                                               expected: str) -> None:
    setup(tmp_path)
    with pytest.raises(DataError, match=expected):
        list_shards(str(tmp_path / path))


def test_the_identity_changes_with_a_files_content_not_with_its_folder(tmp_path: Path) -> None:
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        _frame().to_parquet(tmp_path / folder / "part-0.parquet")
    a, b = list_shards(str(tmp_path / "a")), list_shards(str(tmp_path / "b"))
    assert a.sizes == b.sizes
    before = a.identity()
    _frame(7).to_parquet(tmp_path / "a" / "part-0.parquet")  # other rows behind the same name
    assert list_shards(str(tmp_path / "a")).identity() != before


def test_the_split_of_a_key_depends_on_the_key_and_seed_only() -> None:
    keys = [f"review {i}" for i in range(20_000)]
    u = split_hash(keys, seed=3)
    shuffled = np.random.default_rng(0).permutation(len(keys))
    assert np.array_equal(split_hash([keys[i] for i in shuffled], seed=3), u[shuffled])  # order-free
    assert not np.array_equal(split_hash(keys, seed=4), u)
    split = assign_splits(u, val_fraction=0.2, test_fraction=0.25, has_test=False)
    shares = np.bincount(split, minlength=3) / len(keys)
    assert abs(shares[2] - 0.25) < 0.015 and abs(shares[1] - 0.75 * 0.2) < 0.015  # val: 20% of the rest
    no_test = assign_splits(u, val_fraction=0.2, test_fraction=0.25, has_test=True)
    assert (no_test == 2).sum() == 0 and abs((no_test == 1).mean() - 0.2) < 0.015


def test_counts_merged_in_any_order_give_the_same_word_index() -> None:
    texts, _ = synthetic_reviews(n=64, seed=0)
    batches = [texts[i:i + 10] for i in range(0, len(texts), 10)]
    forward, backward = Counter[bytes](), Counter[bytes]()
    for batch in batches:
        forward.update(count_words(batch))
    for batch in reversed(batches):
        backward.update(count_words(batch))
    assert forward == count_words(texts)
    a = WordIndex.from_counts(forward, max_words=20)
    assert a.word_to_id == WordIndex.from_counts(backward, max_words=20).word_to_id
    top = [w.decode() for w, _ in sorted(forward.items(), key=lambda wc: (-wc[1], wc[0]))[:18]]
    assert sorted(a.word_to_id, key=a.word_to_id.__getitem__) == top  # by count, ties by the word


def test_a_path_next_to_the_default_source_is_refused_not_ignored() -> None:
    # before: data.path with data.source left at 'packaged' trained on the packaged reviews, saying nothing
    with pytest.raises(ConfigError, match=r"data.path \('my.csv'\) is only read with data.source: aclimdb, csv or"):
        load_config(None, {"task": "sentiment", "data.path": "my.csv"})
    with pytest.raises(ConfigError, match="data.text_column applies only with data.source: files"):
        load_config(None, {"task": "sentiment", "data.source": "synthetic", "data.text_column": "review"})
    with pytest.raises(ConfigError, match="data.path is required when data.source is 'files'"):
        load_config(None, {"task": "sentiment", "data.source": "files"})
    cfg = load_config(None, {"task": "sentiment", "data.source": "files", "data.path": "s3://b/p/",
                             "data.format": "json", "data.key_column": "id"})
    assert cfg.data.key_column == "id"  # type: ignore[attr-defined]


def test_written_shards_hold_every_review_repeat_times_in_a_seeded_order(tmp_path: Path) -> None:
    texts, labels = synthetic_reviews(n=64, seed=0)
    paths = write_shards(texts, labels, str(tmp_path / "x3"), "parquet", files=4, repeat=3, seed=1)
    assert len(paths) == 4
    frame = pd.concat(pd.read_parquet(p) for p in paths)
    assert len(frame) == 3 * 64 and (frame.groupby("id").size() == 3).all()
    assert (frame["text"].to_numpy() == np.asarray(texts, dtype=object)[frame["id"]]).all()
    assert (frame["label"].to_numpy() == labels[frame["id"]]).all()
    again = pd.concat(pd.read_parquet(p) for p in write_shards(texts, labels, str(tmp_path / "y"), "parquet",
                                                                files=4, repeat=3, seed=1))
    assert frame["id"].tolist() == again["id"].tolist()
    csv = write_shards(texts, labels, str(tmp_path / "c"), "csv", files=2)
    assert len(pd.concat(pd.read_csv(p) for p in csv)) == 64
    with pytest.raises(DataError, match="files and repeat must be >= 1"):
        write_shards(texts, labels, str(tmp_path / "z"), files=0)


def test_a_data_error_is_found_behind_rays_wrappers() -> None:
    from seqlab.errors import SeqlabError, seqlab_cause

    # Ray Data keeps only the traceback text of an error raised in a map step
    wrapped = RuntimeError("ray::MapBatches(_Labelled)()\n  File \"shards.py\", line 9\n"
                           "seqlab.errors.DataError: /data/part-3.parquet: row 2 label is 7; allowed: 0, 1")
    found = seqlab_cause(wrapped)
    assert isinstance(found, DataError) and str(found) == "/data/part-3.parquet: row 2 label is 7; allowed: 0, 1"
    try:
        try:
            raise ConfigError("train.lr must be > 0")
        except ConfigError as inner:
            raise RuntimeError("a worker failed") from inner
    except RuntimeError as outer:
        assert isinstance(seqlab_cause(outer), ConfigError)
    assert seqlab_cause(RuntimeError("seqlab.errors.NoSuchKind: x")) is None
    assert isinstance(seqlab_cause(SeqlabError("plain")), SeqlabError)
