"""Data set downloads, tested offline: file:// URLs and a real HTTP server on 127.0.0.1 serving archives the
tests build (plain http is refused unless a test allows loopback explicitly)."""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import shutil
import tarfile
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from seqlab.data.sources import DIGESTS_FILE, SOURCES, data_dir, download, resolve
from seqlab.errors import DataError


def _acl_tar(tmp_path: Path) -> Path:
    archive = tmp_path / "aclImdb_v1.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        for name, text in {"aclImdb/train/pos/0_9.txt": "great", "aclImdb/README": "readme"}.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return archive


def _no_leftovers(dest: Path) -> list[str]:
    return sorted(p.name for p in dest.iterdir() if p.name != DIGESTS_FILE) if dest.exists() else []


def test_data_dir_follows_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SEQLAB_DATA_DIR", str(tmp_path / "cache"))
    assert data_dir() == tmp_path / "cache"
    monkeypatch.delenv("SEQLAB_DATA_DIR")
    assert data_dir() == Path.home() / ".cache" / "seqlab"


def test_registry_names_the_canonical_downloads() -> None:
    assert SOURCES["aclimdb"].url == "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"
    assert SOURCES["glove6b"].url == "https://nlp.stanford.edu/data/glove.6B.zip"
    assert SOURCES["jena"].target == "jena_climate_2009_2016.csv"


def test_download_extracts_a_tar_and_checks_sha256(tmp_path: Path) -> None:
    archive = _acl_tar(tmp_path)
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    dest = tmp_path / "data"
    assert resolve("aclimdb", dest) is None
    path = download("aclimdb", dest=dest, sha256=digest, url=archive.as_uri())
    assert path == dest / "aclImdb" and (path / "train" / "pos" / "0_9.txt").read_text() == "great"
    assert resolve("aclimdb", dest) == path
    assert _no_leftovers(dest) == ["aclImdb"]  # temporary files are gone
    # already there: no second fetch (the URL would fail)
    assert download("aclimdb", dest=dest, url=(tmp_path / "gone.tar.gz").as_uri()) == path


def test_download_extracts_a_zip_member(tmp_path: Path) -> None:
    archive = tmp_path / "jena.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("jena_climate_2009_2016.csv", "Date Time,T (degC)\n01.01.2009 00:10:00,-8.02\n")
        zf.writestr("__MACOSX/._jena_climate_2009_2016.csv", "junk")
    path = download("jena", dest=tmp_path / "data", url=archive.as_uri())
    assert path.is_file() and path.read_text().startswith("Date Time")


def test_checksum_mismatch_leaves_nothing_behind(tmp_path: Path) -> None:
    archive = _acl_tar(tmp_path)
    dest = tmp_path / "data"
    with pytest.raises(DataError, match="checksum mismatch .*expected sha256 0000") as info:
        download("aclimdb", dest=dest, sha256="0" * 64, url=archive.as_uri())
    assert archive.as_uri() in str(info.value)
    assert _no_leftovers(dest) == [] and resolve("aclimdb", dest) is None


def test_failed_fetch_names_the_url_and_the_offline_default(tmp_path: Path) -> None:
    url = (tmp_path / "missing.tar.gz").as_uri()
    with pytest.raises(DataError, match="packaged") as info:
        download("glove6b", dest=tmp_path / "data", url=url)
    assert url in str(info.value) and _no_leftovers(tmp_path / "data") == []


def test_bad_archives_are_refused(tmp_path: Path) -> None:
    not_archive = tmp_path / "plain.txt"
    not_archive.write_text("hello")
    with pytest.raises(DataError, match="neither a zip nor a tar"):
        download("jena", dest=tmp_path / "data", url=not_archive.as_uri())
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr("../escape.csv", "x")
    with pytest.raises(DataError, match="unsafe member"):
        download("jena", dest=tmp_path / "data", url=evil.as_uri())
    assert not (tmp_path / "escape.csv").exists()
    wrong = tmp_path / "wrong.zip"
    with zipfile.ZipFile(wrong, "w") as zf:
        zf.writestr("other.csv", "x")
    with pytest.raises(DataError, match="has no 'jena_climate_2009_2016.csv'; it holds: other.csv"):
        download("jena", dest=tmp_path / "data", url=wrong.as_uri())


def test_unknown_name() -> None:
    with pytest.raises(DataError, match="choose one of: aclimdb, glove6b, jena"):
        download("mnist")


class _Server:
    """A real HTTP server on 127.0.0.1 in a thread; ``routes`` maps a path to (status, headers, body)."""

    def __init__(self) -> None:
        routes: dict[str, tuple[int, dict[str, str], bytes]] = {}
        self.routes = routes

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's spelling
                status, headers, body = routes[self.path]
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)
                self.wfile.flush()
                self.close_connection = True

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def serve(self, path: str, body: bytes, status: int = 200, length: int | None = None,
              **headers: str) -> str:
        headers = {"Content-Length": str(len(body) if length is None else length), **headers}
        self.routes[path] = (status, headers, body)
        return self.base + path


@pytest.fixture
def server() -> Iterator[_Server]:
    s = _Server()
    yield s
    s.httpd.shutdown()
    s.httpd.server_close()


def test_plain_http_is_refused_unless_loopback_is_allowed(server: _Server, tmp_path: Path) -> None:
    url = server.serve("/acl.tar.gz", _acl_tar(tmp_path).read_bytes())
    with pytest.raises(DataError, match="only https:// URLs"):
        download("aclimdb", dest=tmp_path / "data", url=url)
    with pytest.raises(DataError, match="only https:// URLs"):
        download("aclimdb", dest=tmp_path / "data", url="http://example.com/acl.tar.gz", allow_http_loopback=True)
    assert _no_leftovers(tmp_path / "data") == []


def test_trust_on_first_use_records_the_digest_and_later_downloads_must_match(server: _Server, tmp_path: Path) -> None:
    archive = _acl_tar(tmp_path).read_bytes()
    url = server.serve("/acl.tar.gz", archive)
    dest = tmp_path / "data"
    path = download("aclimdb", dest=dest, url=url, allow_http_loopback=True)
    assert (path / "train" / "pos" / "0_9.txt").read_text() == "great"
    recorded = json.loads((dest / DIGESTS_FILE).read_text())
    assert recorded == {url: hashlib.sha256(archive).hexdigest()}
    shutil.rmtree(path)  # fetch again: now the server hands out other bytes
    tampered = io.BytesIO()
    with tarfile.open(fileobj=tampered, mode="w:gz") as tf:
        info = tarfile.TarInfo("aclImdb/README")
        info.size = 4
        tf.addfile(info, io.BytesIO(b"evil"))
    server.serve("/acl.tar.gz", tampered.getvalue())
    with pytest.raises(DataError, match=f"checksum mismatch for {url}.*recorded by an earlier download"):
        download("aclimdb", dest=dest, url=url, allow_http_loopback=True)
    assert _no_leftovers(dest) == []


def test_redirect_to_plain_http_is_refused(server: _Server, tmp_path: Path) -> None:
    url = server.serve("/moved", b"", status=302, Location="http://example.com/acl.tar.gz")
    with pytest.raises(DataError, match="refusing to download http://example.com/acl.tar.gz"):
        download("aclimdb", dest=tmp_path / "data", url=url, allow_http_loopback=True)
    assert _no_leftovers(tmp_path / "data") == []


def test_size_cap_is_enforced(server: _Server, tmp_path: Path) -> None:
    big = SOURCES["jena"].max_bytes + 1
    url = server.serve("/huge.zip", b"x" * 16, length=big)  # announces more than the cap
    with pytest.raises(DataError, match=f"{big} bytes, over the cap"):
        download("jena", dest=tmp_path / "data", url=url, allow_http_loopback=True)
    assert _no_leftovers(tmp_path / "data") == []


def test_truncated_transfer_raises_data_error_and_leaves_no_partial_file(server: _Server, tmp_path: Path) -> None:
    archive = _acl_tar(tmp_path).read_bytes()
    url = server.serve("/cut.tar.gz", archive[: len(archive) // 2], length=len(archive))  # connection cut
    with pytest.raises(DataError, match="cut.tar.gz") as err:
        download("aclimdb", dest=tmp_path / "data", url=url, allow_http_loopback=True)
    assert "nothing was written" in str(err.value)
    assert _no_leftovers(tmp_path / "data") == []
