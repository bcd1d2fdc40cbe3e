"""Labelled texts in sharded files, read with Ray Data: a folder, a glob or an ``s3://`` URI of Parquet, CSV or
JSON-lines files with a text and a label column (``data.source: files``).

    files = list_shards("s3://bucket/imdb/", "auto")        # the files, their sizes and mtimes
    ds = read_shards(files, cfg)                             # a Ray Dataset: text, label, split, rank
    counts = count_words(ds, "train")                        # per-batch word counts, merged here

Credentials come from the environment or the instance role (pyarrow's S3 client reads ``AWS_*`` variables,
``~/.aws`` and the instance metadata; ``AWS_ENDPOINT_URL`` points it at MinIO or another S3-compatible store),
never from a config file.

A row's split follows from a seeded hash of a stable key: the ``data.key_column`` if given, else the text
itself. So the split never depends on shard order, block sizes or the number of workers, and a review that
appears twice (a resample, a copy in two files) is in one split only: it cannot be trained on and tested on.
"""

from __future__ import annotations

import fnmatch
import hashlib
import math
import os
from collections import Counter
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from seqlab.errors import DataError, seqlab_cause

FORMATS: dict[str, tuple[str, ...]] = {"parquet": (".parquet", ".pq"), "csv": (".csv",),
                                       "json": (".jsonl", ".json", ".ndjson")}
SPLITS = ("train", "val", "test")
LABELS = {"0": 0, "1": 1, "neg": 0, "pos": 1, "negative": 0, "positive": 1, "0.0": 0, "1.0": 1}
ALLOWED_LABELS = "0, 1, pos, neg, positive, negative"
_GLOB = set("*?[")


@dataclass(frozen=True)
class ShardFiles:
    """What ``data.path`` names: the files (sorted), their sizes and mtimes, the format and the filesystem."""

    uri: str
    files: tuple[str, ...]
    sizes: tuple[int, ...]
    mtimes_ns: tuple[int, ...]
    format: str
    filesystem: Any  # pyarrow.fs.FileSystem

    def identity(self) -> str:
        """A hash of every file's name (relative to the folder), size and mtime: what the champion
        fingerprint covers, so two data sets behind one URI are never compared as equals."""
        root = _root(self.files)
        h = hashlib.sha256()
        for name, size, mtime in zip(self.files, self.sizes, self.mtimes_ns, strict=True):
            h.update(f"{name[len(root):]}\0{size}\0{mtime}\n".encode())
        return h.hexdigest()


def _root(files: tuple[str, ...]) -> str:
    common = os.path.commonpath(list(files)) if len(files) > 1 else os.path.dirname(files[0])
    return common.rstrip("/") + "/"


def _filesystem(uri: str) -> tuple[Any, str]:
    import pyarrow.fs as pafs

    local = "://" not in uri
    try:
        if local:
            return pafs.LocalFileSystem(), os.path.abspath(os.path.expanduser(uri))
        filesystem, path = pafs.FileSystem.from_uri(uri)
        return filesystem, str(path)
    except (OSError, ValueError) as exc:  # pyarrow.lib.ArrowInvalid is a ValueError
        raise DataError(f"data.path {uri!r}: cannot open it: {exc}") from None


def _format_of(files: list[str], wanted: str, uri: str) -> str:
    if wanted != "auto":
        return wanted
    found = {fmt for f in files for fmt, ends in FORMATS.items() if f.lower().endswith(ends)}
    if len(found) != 1:
        allowed = ", ".join(e for ends in FORMATS.values() for e in ends)
        raise DataError(f"data.path {uri!r}: cannot tell the format from the file names (found "
                        f"{sorted(found) or 'no known ending'}; endings: {allowed}); set data.format")
    return found.pop()


def list_shards(uri: str, fmt: Literal["auto", "parquet", "csv", "json"] = "auto") -> ShardFiles:
    """The files ``uri`` names: one file, a folder (every file below it with the format's ending), or a glob
    (``*``, ``?``, ``[...]`` in the last part).

    Raises:
        DataError: a path or URI that does not exist, cannot be listed (credentials refused) or holds no file.
    """
    import pyarrow.fs as pafs

    filesystem, path = _filesystem(uri)
    pattern = None
    if _GLOB & set(os.path.basename(path)):
        path, pattern = os.path.dirname(path), os.path.basename(path)
    try:
        info = filesystem.get_file_info(path)
        if info.type == pafs.FileType.File and pattern is None:
            infos = [info]
        elif info.type == pafs.FileType.Directory:
            infos = [i for i in filesystem.get_file_info(pafs.FileSelector(path, recursive=pattern is None))
                     if i.type == pafs.FileType.File]
        else:
            raise DataError(f"data.path {uri!r}: no such file or folder")
    except OSError as exc:  # S3: access denied, unknown bucket, no credentials
        raise DataError(f"data.path {uri!r}: cannot list it: {str(exc).splitlines()[0]}") from None
    if pattern is not None:
        infos = [i for i in infos if fnmatch.fnmatch(i.base_name, pattern)]
    infos = [i for i in infos if not i.base_name.startswith((".", "_"))]  # _SUCCESS, .crc and such
    if fmt != "auto" or pattern is None and info.type == pafs.FileType.Directory:
        ends = FORMATS[fmt] if fmt != "auto" else tuple(e for v in FORMATS.values() for e in v)
        infos = [i for i in infos if i.path.lower().endswith(ends)]
    if not infos:
        raise DataError(f"data.path {uri!r}: no data file there (Parquet, CSV or JSON lines)")
    infos.sort(key=lambda i: i.path)
    fmt_found = _format_of([i.path for i in infos], fmt, uri)
    empty = [i.path for i in infos if i.size == 0]
    if empty:
        raise DataError(f"{empty[0]}: empty file" + (f" (and {len(empty) - 1} more)" if len(empty) > 1 else "")
                        + "; remove it or write it again")
    return ShardFiles(uri, tuple(i.path for i in infos), tuple(int(i.size) for i in infos),
                      tuple(int(i.mtime_ns or 0) for i in infos), fmt_found, filesystem)


# ------------------------------------------------------------------------------------------------ splits


def split_hash(keys: list[str], seed: int) -> np.ndarray:
    """A uniform number in [0, 1) per key, from a seeded 64-bit BLAKE2b hash: the same for a key wherever
    and in whatever order it is read."""
    salt = seed.to_bytes(8, "little")
    out = np.fromiter((int.from_bytes(hashlib.blake2b(k.encode("utf-8", "surrogatepass"), digest_size=8,
                                                      salt=salt).digest(), "little") for k in keys),
                      dtype=np.uint64, count=len(keys))
    return out.astype(np.float64) / 2.0**64


def assign_splits(u: np.ndarray, val_fraction: float, test_fraction: float, has_test: bool) -> np.ndarray:
    """0 = train, 1 = val, 2 = test, from each row's hash value ``u``: the first ``test_fraction`` of the
    unit interval is test (unless a separate test source exists), the next ``val_fraction`` of the rest val."""
    test_end = 0.0 if has_test else test_fraction
    val_end = test_end + (1.0 - test_end) * val_fraction
    return np.where(u < test_end, 2, np.where(u < val_end, 1, 0)).astype(np.int8)


def label_ids(values: Any) -> list[int | None]:
    """Each label as 0/1, None where it is none of :data:`LABELS` (or missing)."""
    return [None if _is_null(v) else LABELS.get(str(v).strip().lower()) for v in values]


def parse_labels(values: Any, where: str) -> np.ndarray:
    """Labels as 0/1; a row (counted from 1) with another label is a DataError naming ``where`` and the row."""
    labels = label_ids(values)
    if None in labels:
        i = labels.index(None)
        raise DataError(f"{where}: row {i + 1} has label {values[i]!r}; allowed: {ALLOWED_LABELS}")
    return np.asarray(labels, dtype=np.int64)


def _is_null(value: Any) -> bool:
    return value is None or isinstance(value, float) and math.isnan(value)


# ---------------------------------------------------------------------------------------------- Ray Data


@dataclass(frozen=True)
class ShardRules:
    """How rows of the shards become labelled, split reviews (from ``data.*``)."""

    text_column: str = "text"
    label_column: str = "label"
    key_column: str | None = None
    seed: int = 0
    val_fraction: float = 0.2
    test_fraction: float = 0.2
    has_test: bool = False  # a separate test source: these shards hold only train and val
    forced_split: int | None = None  # the separate test source's rows: all of them test


def _read_table(path: str, fmt: str, filesystem: Any, rules: ShardRules) -> Any:
    """One shard as a pyarrow Table, read the way Ray Data reads it (text columns kept as strings)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.json as pajson
    import pyarrow.parquet as pq

    with filesystem.open_input_file(path) as handle:
        if fmt == "parquet":
            return pq.read_table(handle)
        if fmt == "csv":
            return pacsv.read_csv(handle, convert_options=pacsv.ConvertOptions(column_types=_string_columns(rules)))
        table = pajson.read_json(handle)
        return table if isinstance(table, pa.Table) else pa.Table.from_batches([table])


def _where(path: str, fmt: str, filesystem: Any, rules: ShardRules, column: str, bad: Any) -> str:
    """``<file>: row <n> <column>`` for the first row of the file whose ``column`` equals ``bad`` (header not
    counted), or ``<file>: no column ...`` where the file lacks it (Ray Data fills a column that another shard
    has with nulls: then this raises that DataError). Reads the one file again: only on the way to an error."""
    try:
        table = _read_table(path, fmt, filesystem, rules)
    except Exception:  # noqa: BLE001 (only refines an error message that is raised anyway)
        return f"{path}: {column}"
    if column not in table.column_names:
        raise DataError(f"{path}: no column {column!r}; its columns: {', '.join(table.column_names)} (set "
                        f"data.text_column / data.label_column / data.key_column)")
    values = table.column(column).to_pylist()
    found = [i for i, v in enumerate(values) if v == bad or _is_null(bad) and v is None]
    return f"{path}: row {found[0] + 1} {column}" if found else f"{path}: {column}"


class _Labelled:
    """``map_batches`` step: check each row, parse its label, give it a split and a rank (its hash)."""

    def __init__(self, rules: ShardRules, fmt: str, filesystem: Any) -> None:
        self.rules, self.fmt, self.filesystem = rules, fmt, filesystem

    def __call__(self, batch: Any) -> dict[str, np.ndarray]:  # a pandas DataFrame
        r = self.rules
        paths = batch["path"].astype(str).to_numpy() if "path" in batch else np.array(["?"] * len(batch))
        where = paths[0] if len(paths) else "?"
        missing = [c for c in (r.text_column, r.label_column, r.key_column) if c and c not in batch.columns]
        if missing:
            found = ", ".join(str(c) for c in batch.columns if c != "path")
            raise DataError(f"{where}: no column {', '.join(map(repr, missing))}; its columns: {found} "
                            f"(set data.text_column / data.label_column / data.key_column)")
        texts = batch[r.text_column].to_numpy(dtype=object)
        for i, text in enumerate(texts):
            if not isinstance(text, str) or not text.strip():
                text = None if not isinstance(text, str) else text
                where = _where(paths[i], self.fmt, self.filesystem, r, r.text_column, text)
                raise DataError(f"{where} is {text!r}, not a text with a word; remove the row or fix it")
        values = batch[r.label_column].to_numpy(dtype=object)
        ids = label_ids(values)
        if None in ids:
            i = ids.index(None)
            value = values[i] if isinstance(values[i], (str, int, float)) else None
            value = None if _is_null(value) else value  # a null read as NaN
            where = _where(paths[i], self.fmt, self.filesystem, r, r.label_column, value)
            raise DataError(f"{where} is {value!r}; allowed: {ALLOWED_LABELS}")
        labels = np.asarray(ids, dtype=np.int64)
        keys = batch[r.key_column].astype(str).tolist() if r.key_column else list(texts)
        rank = split_hash(keys, r.seed)
        split = (np.full(len(rank), r.forced_split, np.int8) if r.forced_split is not None
                 else assign_splits(rank, r.val_fraction, r.test_fraction, r.has_test))
        return {"text": texts, "label": labels, "split": split, "rank": rank}



def _unreadable(files: ShardFiles, rules: ShardRules) -> str:
    """The first shard that pyarrow cannot read, lacks a column, or types a column unlike the first shard
    (Ray Data cannot merge those), with the reason; "" if none (only called after a failed read)."""
    needed = [c for c in (rules.text_column, rules.label_column, rules.key_column) if c]
    first: dict[str, tuple[str, str]] = {}
    for path in files.files:
        try:
            table = _read_table(path, files.format, files.filesystem, rules)
        except Exception as exc:  # noqa: BLE001 (turned into the DataError the caller raises)
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            return f"{path}: cannot be read as {files.format}: {reason}"
        missing = [c for c in needed if c not in table.column_names]
        if missing:
            return (f"{path}: no column {', '.join(map(repr, missing))}; its columns: "
                    f"{', '.join(table.column_names)} (set data.text_column / data.label_column / data.key_column)")
        for column in needed:
            kind = str(table.schema.field(column).type)
            was, where = first.setdefault(column, (kind, path))
            if kind != was:
                return (f"{path}: column {column!r} is {kind} where {where} has {was}; write every shard with "
                        f"the same column types")
    return ""


def read_shards(files: ShardFiles, rules: ShardRules) -> Any:
    """The shards as a materialized Ray Dataset with columns ``text``, ``label`` (0/1), ``split`` (0 train,
    1 val, 2 test) and ``rank`` (the row's hash in [0, 1): a stable order). Each file is read once, by Ray
    Data's read tasks; bad rows are found here, before any model is built.

    Raises:
        DataError: a file that cannot be read, a missing column, an empty text, an unknown label; naming
            the file (and the row where there is one).
    """
    import ray.data

    from seqlab.runtime.chatter import adopt_library_loggers
    from seqlab.runtime.cluster import init_ray

    init_ray()  # Ray Data would start one implicitly; seqlab's has its resources and log routing
    adopt_library_loggers()  # Ray Data's progress lines go to the command's log file unless -v
    common = {"filesystem": files.filesystem, "include_paths": True}
    try:
        if files.format == "parquet":
            ds = ray.data.read_parquet(list(files.files), **common)
        elif files.format == "csv":
            import pyarrow.csv as pacsv

            ds = ray.data.read_csv(list(files.files), **common,
                                   convert_options=pacsv.ConvertOptions(column_types=_string_columns(rules)))
        else:
            ds = ray.data.read_json(list(files.files), **common)  # pyarrow reads JSON lines
        labelled = ds.map_batches(_Labelled(rules, files.format, files.filesystem), batch_format="pandas",
                                  batch_size=4096)
        return labelled.materialize()
    except DataError:
        raise
    except Exception as exc:  # noqa: BLE001 (Ray wraps the reader's and our errors; both become one line)
        found = seqlab_cause(exc)
        if found is not None:
            raise DataError(str(found)) from None
        raise DataError(_unreadable(files, rules) or f"data.path {files.uri!r}: Ray Data could not read it: "
                        f"{str(exc).splitlines()[-1][:300]}") from None


def _string_columns(rules: ShardRules) -> dict[str, Any]:
    import pyarrow as pa

    return {c: pa.string() for c in (rules.text_column, rules.label_column, rules.key_column) if c}


class _WordCounts:
    def __init__(self, lowercase: bool, filters: str | None) -> None:
        self.lowercase, self.filters = lowercase, filters

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        from seqlab.data.text import DEFAULT_FILTERS, count_words

        counts = count_words(list(batch["text"]), self.lowercase, self.filters or DEFAULT_FILTERS)
        return {"word": np.array(list(counts), dtype=object), "count": np.fromiter(counts.values(), np.int64,
                                                                                     count=len(counts))}


def count_words(ds: Any, split: int = 0, lowercase: bool = True, filters: str | None = None) -> Counter[bytes]:
    """Word counts of one split of :func:`read_shards`' dataset: Ray Data's workers count each batch; this
    process adds the per-batch tables up (it holds the vocabulary, one entry per distinct word, never the
    rows)."""
    counts: Counter[bytes] = Counter()
    per_batch = ds.filter(expr=f"split == {split}").map_batches(
        _WordCounts(lowercase, filters), batch_format="numpy", batch_size=4096)
    for batch in per_batch.iter_batches(batch_format="numpy", batch_size=None):
        counts.update(dict(zip(batch["word"].tolist(), batch["count"].tolist(), strict=True)))
    return counts


def collect_split(ds: Any, split: int) -> tuple[list[str], np.ndarray, int]:
    """One split's texts and labels, in rank order (so the same rows in the same order on every read)."""
    import pandas as pd

    parts = [b for b in ds.filter(expr=f"split == {split}").iter_batches(batch_format="pandas", batch_size=None)]
    frame = pd.concat(parts) if parts else pd.DataFrame({"text": [], "label": [], "rank": []})
    frame = frame.sort_values("rank", kind="stable")
    return frame["text"].tolist(), frame["label"].to_numpy(dtype=np.int64), len(frame)


# --------------------------------------------------------------------------------------------- writing


def write_shards(texts: list[str], labels: np.ndarray, uri: str, fmt: Literal["parquet", "csv", "json"] = "parquet",
                 files: int = 16, repeat: int = 1, seed: int = 0) -> list[str]:
    """Write labelled texts as ``files`` shards under ``uri`` (a folder or an ``s3://`` prefix): columns
    ``id`` (the row's index in ``texts``), ``text`` and ``label`` (0/1).

    ``repeat`` > 1 writes every review that many times, all rows in one seeded order (a larger data set of
    the same reviews, for scale benchmarks; the copies of a review share their id and text, so they all
    fall in one split).

    Returns:
        The paths written.

    Raises:
        DataError: ``uri`` cannot be written (no such bucket, credentials refused) or bad sizes.
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    if files < 1 or repeat < 1:
        raise DataError(f"files and repeat must be >= 1, got files={files}, repeat={repeat}")
    filesystem, root = _filesystem(uri)
    ids = np.tile(np.arange(len(texts), dtype=np.int64), repeat)
    ids = ids[np.random.default_rng(seed).permutation(len(ids))] if repeat > 1 else ids
    text_array = pa.array(texts, pa.string())
    written = []
    ending = {"parquet": ".parquet", "csv": ".csv", "json": ".jsonl"}[fmt]
    try:
        filesystem.create_dir(root, recursive=True)
        for i, part in enumerate(np.array_split(ids, files)):
            table = pa.table({"id": pa.array(part), "text": text_array.take(pa.array(part)),
                              "label": pa.array(np.asarray(labels, dtype=np.int64)[part])})
            path = f"{root.rstrip('/')}/part-{i:05d}{ending}"
            with filesystem.open_output_stream(path) as out:
                if fmt == "parquet":
                    pq.write_table(table, out)
                elif fmt == "csv":
                    pacsv.write_csv(table, out)
                else:
                    out.write(table.to_pandas().to_json(orient="records", lines=True).encode())
            written.append(path)
    except OSError as exc:
        raise DataError(f"cannot write shards to {uri!r}: {str(exc).splitlines()[0]}") from None
    return written
