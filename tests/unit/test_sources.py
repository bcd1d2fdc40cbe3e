"""Data set downloads, tested offline with file:// URLs to archives the tests build."""

from __future__ import annotations

import hashlib
import io
import tarfile
import zipfile
from pathlib import Path

import pytest

from seqlab.data.sources import SOURCES, data_dir, download, resolve
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
    return [p.name for p in dest.iterdir()] if dest.exists() else []


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
