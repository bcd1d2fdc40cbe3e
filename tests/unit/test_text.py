"""Text vectorization: tokens, WordIndex, padding, the chapter's one-hot listings and n-grams."""

from __future__ import annotations

import json
import string
import subprocess
import sys

import numpy as np
import pytest

from seqlab.data import text as text_module
from seqlab.data.synthetic import synthetic_reviews
from seqlab.data.onehot import bag_of_ngrams, char_one_hot, hashed_one_hot, stable_hash, word_one_hot
from seqlab.data.text import WordIndex, pad_sequences, tokenize
from seqlab.errors import DataError


def test_tokenize_lowercases_strips_punctuation_and_html_breaks() -> None:
    text = "Great movie!<br /><br />I LOVED it... Don't miss-it<br/>(really)"
    assert tokenize(text) == ["great", "movie", "i", "loved", "it", "don't", "miss", "it", "really"]
    assert tokenize("The Cat.", lowercase=False) == ["The", "Cat"]
    assert tokenize("a-b", filters="") == ["a-b"]
    assert tokenize("a\u00e9b\u00c9c\u2014d", filters="\u2014") == [
        "a\u00e9b\u00e9c",
        "d",
    ]  # non-ASCII filters


def test_every_unicode_whitespace_separates_words() -> None:
    spaces = [chr(c) for c in range(0x110000) if chr(c).isspace()]
    text = "a".join(spaces) + "a"
    assert tokenize(text) == ["a"] * len(spaces) == text.split()
    wi = WordIndex.fit([text, "b\x1fc"], max_words=10)
    assert wi.to_sequences([text, "b\x1fc\xa0a"]) == [[2] * len(spaces), [3, 4, 2]]


def test_fit_ranks_by_frequency_ties_by_first_appearance() -> None:
    wi = WordIndex.fit(["b a c", "a c d", "e"], max_words=5)
    # a and c appear twice (a first), b once before d and e; only max_words - 2 = 3 words fit
    assert wi.word_to_id == {"a": 2, "c": 3, "b": 4}
    assert len(wi) == 5 and wi.max_words == 5
    assert WordIndex.fit(["x y"], max_words=100).word_to_id == {"x": 2, "y": 3}
    assert len(WordIndex.fit(["x y"], max_words=100)) == 4


def test_sequences_map_unknown_words_to_one() -> None:
    wi = WordIndex.fit(["the cat sat on the mat"], max_words=10)
    assert wi.to_sequences(["The cat barked", "", "mat"]) == [[2, 3, 1], [], [6]]
    assert wi.to_sequences([]) == []


def test_to_padded_keeps_the_last_words_like_keras() -> None:
    wi = WordIndex.fit(["a b c d e"], max_words=10)  # a=2 .. e=6
    x = wi.to_padded(["a b c d e", "a", ""], maxlen=3)
    assert x.dtype == np.int64 and x.shape == (3, 3)
    np.testing.assert_array_equal(x, [[4, 5, 6], [0, 0, 2], [0, 0, 0]])
    post = wi.to_padded(["a b c d e", "a"], maxlen=3, padding="post", truncating="post")
    np.testing.assert_array_equal(post, [[2, 3, 4], [2, 0, 0]])


def test_to_flat_keeps_the_last_words_without_padding() -> None:
    wi = WordIndex.fit(["a b c d e"], max_words=10)  # a=2 .. e=6
    flat, lengths = wi.to_flat(["a b c d e", "a zz", ""], maxlen=3)
    assert flat.dtype == np.int64 and flat.tolist() == [4, 5, 6, 2, 1]  # no zeros: nothing padded
    assert lengths.tolist() == [3, 2, 0]
    assert wi.to_flat(["a b c d e"])[0].tolist() == [2, 3, 4, 5, 6]  # no maxlen: every word
    with pytest.raises(DataError, match="maxlen must be >= 1"):
        wi.to_flat(["a"], maxlen=0)


def test_batch_path_equals_text_by_text(monkeypatch: pytest.MonkeyPatch) -> None:
    texts, _ = synthetic_reviews(n=40, seed=1)
    texts = texts + ["<BR />x", "  ", "Odd, odd."]
    wi = WordIndex.fit(texts, max_words=30)
    expected = [[wi.word_to_id.get(w, 1) for w in tokenize(t)] for t in texts]
    assert wi.to_sequences(texts) == expected
    # a text holding the internal boundary character takes the slow path, with the same result
    odd = texts + ["odd \x00 separator char"]
    assert wi.to_sequences(odd) == expected + [[wi.word_to_id.get("odd", 1), 1, 1]]
    # texts are processed in chunks; chunk edges must change nothing
    monkeypatch.setattr(text_module, "_CHUNK_TEXTS", 7)
    small = WordIndex.fit(texts, max_words=30)
    assert small.word_to_id == wi.word_to_id and small.to_sequences(texts) == expected


def test_pad_sequences_matches_a_plain_loop() -> None:
    rng = np.random.default_rng(0)
    seqs = [list(rng.integers(1, 9, size=int(rng.integers(0, 8)))) for _ in range(50)]
    for padding in ("pre", "post"):
        for truncating in ("pre", "post"):
            got = pad_sequences(seqs, maxlen=4, padding=padding, truncating=truncating, value=-1)
            for row, seq in zip(got, seqs):
                kept = seq[-4:] if truncating == "pre" else seq[:4]
                fill = [-1] * (4 - len(kept))
                assert row.tolist() == (fill + kept if padding == "pre" else kept + fill)
    assert pad_sequences([[1, 2, 3], [4]], maxlen=None).shape == (2, 3)


def test_to_matrix_modes() -> None:
    wi = WordIndex.fit(["a b b"], max_words=4)  # b=2, a=3
    texts = ["b b a zzz", ""]
    np.testing.assert_array_equal(wi.to_matrix(texts, "count"), [[0, 1, 2, 1], [0, 0, 0, 0]])
    np.testing.assert_array_equal(wi.to_matrix(texts, "binary"), [[0, 1, 1, 1], [0, 0, 0, 0]])
    np.testing.assert_allclose(wi.to_matrix(texts, "freq")[0], [0, 0.25, 0.5, 0.25])
    assert wi.to_matrix(texts).dtype == np.float32


def test_round_trip_through_json() -> None:
    texts, _ = synthetic_reviews(n=32)
    wi = WordIndex.fit(texts, max_words=20, lowercase=False)
    back = WordIndex.from_dict(json.loads(json.dumps(wi.to_dict())))
    assert back.word_to_id == wi.word_to_id and back.max_words == 20 and back.lowercase is False
    np.testing.assert_array_equal(back.to_padded(texts, 12), wi.to_padded(texts, 12))
    with pytest.raises(DataError, match="kind"):
        WordIndex.from_dict({"words": []})
    with pytest.raises(DataError, match="distinct"):
        WordIndex.from_dict({**wi.to_dict(), "words": ["a", "a"]})


def test_bad_arguments_raise_data_error() -> None:
    with pytest.raises(DataError, match="at least one text"):
        WordIndex.fit([], max_words=10)
    with pytest.raises(DataError, match="max_words must be >= 2"):
        WordIndex.fit(["a"], max_words=1)
    with pytest.raises(DataError, match="one string"):
        WordIndex.fit("a b c", max_words=10)
    wi = WordIndex.fit(["a"], max_words=3)
    with pytest.raises(DataError, match="maxlen must be >= 1"):
        wi.to_padded(["a"], maxlen=0)
    with pytest.raises(DataError, match="binary, count, freq"):
        wi.to_matrix(["a"], mode="tfidf")
    with pytest.raises(DataError, match="padding must be one of"):
        wi.to_padded(["a"], maxlen=2, padding="middle")


def test_word_one_hot_as_in_the_chapter() -> None:
    index, x = word_one_hot(["The cat sat on the mat.", "The dog ate my homework."], max_length=10)
    assert index["The"] == 1 and index["mat."] == 6 and "the" in index and 0 not in index.values()
    assert x.shape == (2, 10, len(index) + 1)
    assert x[0, 0, index["The"]] == 1 and x[1, 1, index["dog"]] == 1
    np.testing.assert_array_equal(x.sum(axis=2)[0], [1] * 6 + [0] * 4)
    _, short = word_one_hot(["a b c d"], max_length=2)
    assert short.sum() == 2


def test_char_one_hot_uses_printable_characters() -> None:
    x = char_one_hot(["ab", "\u00e9" + "z" * 60], max_length=50)
    assert x.shape == (2, 50, len(string.printable) + 1)
    assert x[0, 0, string.printable.index("a") + 1] == 1 and x[0, 1, string.printable.index("b") + 1] == 1
    assert x[1, 0, 0] == 1  # a non-printable character lands at index 0
    assert x[0].sum() == 2 and x[1].sum() == 50


def test_hashing_is_stable_across_processes() -> None:
    code = "from seqlab.data.onehot import stable_hash; print(stable_hash('movie'))"
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert int(other.stdout) == stable_hash("movie")
    x = hashed_one_hot(["The cat sat on the mat.", "The dog"], dimensionality=1000, max_length=10)
    assert x.shape == (2, 10, 1000)
    assert x[0, 0, stable_hash("The") % 1000] == 1 and x[0].sum() == 6


def test_bag_of_ngrams_matches_the_chapter() -> None:
    text = "The cat sat on the mat."
    assert bag_of_ngrams(text, 2) == {
        "The", "The cat", "cat", "cat sat", "sat", "sat on", "on", "on the", "the", "the mat", "mat",
    }  # fmt: skip
    assert bag_of_ngrams(text, 3) == {
        "The", "The cat", "cat", "cat sat", "The cat sat", "sat", "sat on", "on", "cat sat on", "on the",
        "the", "sat on the", "the mat", "mat", "on the mat",
    }  # fmt: skip
    assert bag_of_ngrams(text, 1) == {"The", "cat", "sat", "on", "the", "mat"}
    for bad in (0, -1, 1.5):
        with pytest.raises(DataError, match="n-gram"):
            bag_of_ngrams(text, bad)  # type: ignore[arg-type]
