"""GloVe vectors: the text format, the packaged 50-d set and the embedding matrix."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from seqlab.data import glove as glove_module
from seqlab.data.glove import GloveVectors, embedding_matrix, load_glove, load_packaged_glove, read_glove_txt
from seqlab.data.text import WordIndex
from seqlab.errors import DataError


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "glove.test.3d.txt"
    path.write_text(text, encoding="utf-8")
    return path


def test_reads_words_and_vectors(tmp_path: Path) -> None:
    path = _write(tmp_path, "the 0.1 0.2 0.3\ncaf\u00e9 -1 2e-1 3\nnan 4 5 6\n\n")
    g = read_glove_txt(path)
    assert g.words == ["the", "caf\u00e9", "nan"]  # "nan" is a word, not a missing value
    assert g.vectors.dtype == np.float32 and g.vectors.shape == (3, 3) and g.dim == 3
    np.testing.assert_allclose(g.vectors[1], [-1.0, 0.2, 3.0])
    assert g.lookup() == {"the": 0, "caf\u00e9": 1, "nan": 2} and g.lookup() is g.lookup()
    assert load_glove(path).words == g.words


def test_parses_across_chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(glove_module, "_CHUNK_LINES", 4)
    rows = [f"w{i} {i} {-i}" for i in range(10)]
    g = read_glove_txt(_write(tmp_path, "\n".join(rows) + "\n"))
    assert len(g) == 10 and g.vectors[9].tolist() == [9.0, -9.0]
    with pytest.raises(DataError, match=r":7: found 1 numbers"):
        read_glove_txt(_write(tmp_path, "\n".join(rows[:6] + ["w6 6"] + rows[7:])))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a 1 2 3\nb 1 2\n", r"glove.test.3d.txt:2: found 2 numbers; expected a word then 3 numbers"),
        ("a 1 2 3\nb 1 2 3 4\n", r":2: found 4 numbers"),
        ("a 1 2 3\nb 1 x 3\n", r":2: found 'x', which is not a number"),
        ("a 1 2 3\n\nb 1 2 3\n", r":2: blank line inside the file"),
        ("a\n", r":1: found a word and no numbers"),
        # before: float() read these, and the NaN/inf reached the embedding matrix
        ("a 1 2 3\nb 1 nan 3\n", r":2: found 'nan', which is not a finite float32"),
        ("a 1 2 3\nb 1 2 -inf\n", r":2: found '-inf', which is not a finite float32"),
        ("a 1 2 1e39\n", r":1: found '1e39', which is not a finite float32"),
        ("", r"no vectors found"),
    ],
)
def test_malformed_lines_name_file_and_line(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(DataError, match=message):
        read_glove_txt(_write(tmp_path, text))


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="nowhere.txt"):
        read_glove_txt(tmp_path / "nowhere.txt")


def test_embedding_matrix_rows_follow_word_ids() -> None:
    g = GloveVectors(["the", "cat", "dog"], np.arange(9, dtype=np.float64).reshape(3, 3), source="test")
    assert g.vectors.dtype == np.float32
    wi = WordIndex.fit(
        ["the the the Cat cat zebra"], max_words=6, lowercase=False
    )  # the=2 Cat=3 cat=4 zebra=5
    matrix, coverage = embedding_matrix(wi, g)
    assert matrix.shape == (6, 3) and matrix.dtype == np.float32
    np.testing.assert_array_equal(matrix[[0, 1, 5]], 0)  # padding, OOV, and a word GloVe lacks
    np.testing.assert_array_equal(matrix[2], [0, 1, 2])
    np.testing.assert_array_equal(matrix[3], [3, 4, 5])  # "Cat" found lowercased
    assert coverage == pytest.approx(3 / 4)


def test_packaged_glove() -> None:
    g = load_packaged_glove()
    assert g.vectors.shape == (400_000, 50) and g.dim == 50 and g.vectors.dtype == np.float32
    assert g.words[g.lookup()["the"]] == "the"
    assert load_glove(None) is g  # cached per process
    assert not g.vectors.flags.writeable  # the shared cache cannot be changed by accident
    wi = WordIndex.fit(["the movie was good", "a bad film"], max_words=20)
    matrix, coverage = embedding_matrix(wi, g)
    assert coverage == 1.0 and np.abs(matrix[2 : len(wi)]).sum(axis=1).min() > 0
