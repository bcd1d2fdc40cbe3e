"""Where the chapter's full-size data sets live, and how to fetch them on a machine with internet.

Everything runs offline by default on the packaged data (IMDB reviews, GloVe 50-d, NYC weather); these
downloads are for the book's originals. Files land in ``data_dir()`` (``$SEQLAB_DATA_DIR`` or
``~/.cache/seqlab``):

    python -c "from seqlab.data.sources import download; print(download('aclimdb'))"
    # -> ~/.cache/seqlab/aclImdb ; then: data.source=aclimdb data.path=~/.cache/seqlab/aclImdb

A download streams into a temporary file next to the target and is extracted into a temporary folder; only
then is the result renamed into place, so an interrupted or truncated transfer never leaves a half-written
file at the final path. Only ``https`` is fetched (redirects included; ``file://`` for local archives), and
each source has a size cap.

Checksums: the publishers of these archives give no sha256, and seqlab does not make one up. So a digest
comes from, in order: the ``sha256`` argument (pin one you trust), else the digest recorded in
``<data dir>/seqlab-digests.json`` by an earlier verified download of the same URL, else "trust on first
use": the first download is accepted and its digest recorded (and printed), and every later download of that
URL (a re-fetch after deleting the data, another machine sharing the data dir) must match it.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

from seqlab.errors import DataError

_BLOCK_BYTES = 1 << 20
_MIB = 1 << 20
DIGESTS_FILE = "seqlab-digests.json"
_LOOPBACK = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True)
class DataSource:
    """One canonical download: ``url`` is fetched, and ``member`` of the archive becomes ``target``."""

    url: str
    target: str  # path under data_dir() once fetched
    member: str  # path inside the extracted archive that becomes `target`; "." = everything
    use: str  # how to point seqlab at it
    # a cap well above the archive's size (about 80 MiB, 820 MiB and 13 MiB): a wrong or hostile server
    # cannot fill the disk
    max_bytes: int = 2048 * _MIB


SOURCES: dict[str, DataSource] = {
    "aclimdb": DataSource(
        url="https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz",
        target="aclImdb",
        member="aclImdb",
        use="data.source=aclimdb data.path=<data_dir>/aclImdb",
        max_bytes=256 * _MIB,
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
        max_bytes=64 * _MIB,
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


def _check_url(url: str, allow_http_loopback: bool) -> None:
    """Only https (and local files); plain http only to this machine, and only when explicitly allowed."""
    parts = urlsplit(url)
    if parts.scheme in ("https", "file"):
        return
    if parts.scheme == "http" and allow_http_loopback and parts.hostname in _LOOPBACK:
        return
    raise DataError(f"refusing to download {url}: only https:// URLs are fetched (got {parts.scheme or 'no'}:// "
                    f"scheme{'' if parts.scheme != 'http' else ', and plain http can be tampered with on the way'})")


def _opener(allow_http_loopback: bool) -> urllib.request.OpenerDirector:
    class HttpsOnlyRedirects(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
            _check_url(newurl, allow_http_loopback)  # a redirect may not downgrade to http
            return super().redirect_request(req, fp, code, msg, headers, newurl)

    return urllib.request.build_opener(HttpsOnlyRedirects)


def _fetch(url: str, into: Path, max_bytes: int, timeout_s: float, allow_http_loopback: bool) -> str:
    """Stream ``url`` into the file ``into``; refuse more than ``max_bytes`` or fewer than announced.
    Returns the sha256 of what was received."""
    digest = hashlib.sha256()
    received = 0
    with _opener(allow_http_loopback).open(url, timeout=timeout_s) as response, into.open("wb") as out:
        announced = response.headers.get("Content-Length") if hasattr(response, "headers") else None
        if announced is not None and int(announced) > max_bytes:
            raise DataError(f"download from {url} is {int(announced)} bytes, over the cap of {max_bytes}")
        while block := response.read(_BLOCK_BYTES):
            received += len(block)
            if received > max_bytes:
                raise DataError(f"download from {url} exceeds the cap of {max_bytes} bytes")
            digest.update(block)
            out.write(block)
    if announced is not None and received != int(announced):
        raise DataError(f"download from {url} was truncated: {received} of {int(announced)} bytes")
    return digest.hexdigest()


def _recorded(root: Path) -> dict[str, str]:
    path = root / DIGESTS_FILE
    try:
        data = json.loads(path.read_text()) if path.is_file() else {}
    except (OSError, ValueError) as exc:
        raise DataError(f"{path} is unreadable ({exc}); fix or delete it (it pins the sha256 of downloads)") from None
    if not isinstance(data, dict):
        raise DataError(f"{path} must hold a JSON object of url -> sha256, got {type(data).__name__}")
    return {str(k): str(v) for k, v in data.items()}


def _verify(url: str, got: str, expected: str | None, root: Path) -> None:
    """Check ``got`` against the pinned or recorded digest; record it on first use."""
    recorded = _recorded(root)
    want = (expected or recorded.get(url) or "").lower()
    if want and got != want:
        origin = "the sha256 argument" if expected else f"{root / DIGESTS_FILE} (recorded by an earlier download)"
        raise DataError(f"checksum mismatch for {url}: expected sha256 {want} from {origin}, got {got}")
    if url not in recorded:
        recorded[url] = got
        tmp = root / f".{DIGESTS_FILE}.{os.getpid()}"
        tmp.write_text(json.dumps(recorded, indent=1, sort_keys=True))
        tmp.replace(root / DIGESTS_FILE)
        if not expected:
            print(f"[seqlab] {url}: sha256 {got} trusted on first use and recorded in {root / DIGESTS_FILE}",
                  flush=True)


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
    allow_http_loopback: bool = False,
) -> Path:
    """Fetch and extract a data set unless it is already there.

    Args:
        name: one of ``SOURCES`` (aclimdb, glove6b, jena).
        dest: folder to put it in; default ``data_dir()``.
        sha256: expected checksum of the archive; None: the digest recorded by an earlier download of the
            URL, else trust on first use (the digest is recorded; see the module docstring).
        url: override the canonical URL (an https mirror, or a ``file://`` URL).
        timeout_s: socket timeout of the connection.
        allow_http_loopback: also fetch plain ``http://127.0.0.1`` (a local test server); never other http.

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
    _check_url(url, allow_http_loopback)
    root.mkdir(parents=True, exist_ok=True)
    work = Path(
        tempfile.mkdtemp(prefix=f".{name}-", suffix=".part", dir=root)
    )  # same disk: renames are atomic
    offline = "the packaged data sets (data.source: packaged) are the offline default"
    try:
        archive = work / "archive"
        try:
            got = _fetch(url, archive, source.max_bytes, timeout_s, allow_http_loopback)
        except DataError:
            raise
        except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
            # HTTPException: IncompleteRead (a connection cut mid-body) is not an OSError
            raise DataError(f"could not download {name} from {url}: {type(exc).__name__}: {exc}; {offline}") from None
        _verify(url, got, sha256, root)
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
