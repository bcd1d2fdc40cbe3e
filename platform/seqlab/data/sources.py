"""Where the chapter's full-size data sets live, and how to fetch them on a machine with internet.

Everything runs offline by default on the packaged data (IMDB reviews, GloVe 50-d, NYC weather); these
downloads are for the book's originals. Files land in ``data_dir()`` (``$SEQLAB_DATA_DIR`` or
``~/.cache/seqlab``):

    python -c "from seqlab.data.sources import download; print(download('aclimdb'))"
    # -> ~/.cache/seqlab/aclImdb ; then: data.source=aclimdb data.path=~/.cache/seqlab/aclImdb

A download streams into a temporary file next to the target, is checked against ``sha256`` when given,
and is extracted into a temporary folder; only then is the result renamed into place, so an interrupted
run never leaves a half-written file at the final path.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from seqlab.errors import DataError

_BLOCK_BYTES = 1 << 20


@dataclass(frozen=True)
class DataSource:
    """One canonical download: ``url`` is fetched, and ``member`` of the archive becomes ``target``."""

    url: str
    target: str  # path under data_dir() once fetched
    member: str  # path inside the extracted archive that becomes `target`; "." = everything
    use: str  # how to point seqlab at it


SOURCES: dict[str, DataSource] = {
    "aclimdb": DataSource(
        url="https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz",
        target="aclImdb",
        member="aclImdb",
        use="data.source=aclimdb data.path=<data_dir>/aclImdb",
    ),
    "glove6b": DataSource(
        url="https://nlp.stanford.edu/data/glove.6B.zip",
        target="glove.6B",  # holds glove.6B.{50,100,200,300}d.txt
        member=".",
        use="data.glove_path=<data_dir>/glove.6B/glove.6B.100d.txt model.embed_dim=100",
    ),
    "jena": DataSource(
        url="https://s3.amazonaws.com/keras-datasets/jena_climate_2009_2016.csv.zip",
        target="jena_climate_2009_2016.csv",
        member="jena_climate_2009_2016.csv",
        use="data.source=jena data.path=<data_dir>/jena_climate_2009_2016.csv",
    ),
}


def data_dir() -> Path:
    """``$SEQLAB_DATA_DIR`` if set, else ``~/.cache/seqlab`` (not created here)."""
    env = os.environ.get("SEQLAB_DATA_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "seqlab"


def _source(name: str) -> DataSource:
    if name not in SOURCES:
        raise DataError(f"unknown data set {name!r}; choose one of: {', '.join(sorted(SOURCES))}")
    return SOURCES[name]


def resolve(name: str, dest: str | Path | None = None) -> Path | None:
    """The fetched data set's path under ``dest`` (default ``data_dir()``), or None if not there yet."""
    path = Path(dest or data_dir()) / _source(name).target
    return path if path.exists() else None


def _fetch(url: str, into: Path, sha256: str | None, timeout_s: float) -> None:
    """Stream ``url`` into the file ``into``, checking its sha256 when given."""
    digest = hashlib.sha256()
    with urllib.request.urlopen(url, timeout=timeout_s) as response, into.open("wb") as out:
        while block := response.read(_BLOCK_BYTES):
            digest.update(block)
            out.write(block)
    if sha256 is not None and digest.hexdigest() != sha256.lower():
        raise DataError(
            f"checksum mismatch for {url}: expected sha256 {sha256.lower()}, got {digest.hexdigest()}"
        )


def _safe_names(names: list[str], url: str) -> None:
    for name in names:
        parts = PurePosixPath(name.replace("\\", "/")).parts
        if name.startswith(("/", "\\")) or ".." in parts:
            raise DataError(f"archive from {url} has an unsafe member path {name!r}; refusing to extract")


def _extract(archive: Path, into: Path, url: str) -> None:
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            _safe_names(zf.namelist(), url)
            zf.extractall(into)
    elif tarfile.is_tarfile(archive):
        with tarfile.open(archive) as tf:
            _safe_names(tf.getnames(), url)
            tf.extractall(into, filter="data")  # also refuses links pointing outside `into`
    else:
        raise DataError(f"download from {url} is neither a zip nor a tar archive")


def download(
    name: str,
    dest: str | Path | None = None,
    sha256: str | None = None,
    url: str | None = None,
    timeout_s: float = 60.0,
) -> Path:
    """Fetch and extract a data set unless it is already there.

    Args:
        name: one of ``SOURCES`` (aclimdb, glove6b, jena).
        dest: folder to put it in; default ``data_dir()``.
        sha256: expected checksum of the archive; None skips the check.
        url: override the canonical URL (a mirror, or a ``file://`` URL in tests).
        timeout_s: socket timeout of the connection.

    Returns:
        The path of the data set (a folder or file, see ``SOURCES[name].target``).

    Raises:
        DataError: naming the URL, when fetching, checking or extracting fails.
    """
    source = _source(name)
    root = Path(dest or data_dir()).expanduser()
    final = root / source.target
    if final.exists():
        return final
    url = url or source.url
    root.mkdir(parents=True, exist_ok=True)
    work = Path(
        tempfile.mkdtemp(prefix=f".{name}-", suffix=".part", dir=root)
    )  # same disk: renames are atomic
    offline = "the packaged data sets (data.source: packaged) are the offline default"
    try:
        archive = work / "archive"
        try:
            _fetch(url, archive, sha256, timeout_s)
        except DataError:
            raise
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise DataError(f"could not download {name} from {url}: {exc}; {offline}") from None
        extracted = work / "extracted"
        try:
            _extract(archive, extracted, url)
        except (tarfile.TarError, zipfile.BadZipFile, OSError) as exc:
            raise DataError(f"could not extract {name} downloaded from {url}: {exc}") from None
        produced = extracted / source.member
        if not produced.exists():
            found = ", ".join(sorted(p.name for p in extracted.iterdir())) or "nothing"
            raise DataError(f"archive from {url} has no {source.member!r}; it holds: {found}")
        try:
            os.replace(produced, final)
        except OSError:
            if not final.exists():  # another process finishing first is fine
                raise
    except DataError as exc:
        raise DataError(f"{exc.message} (nothing was written to {final})") from None
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return final
