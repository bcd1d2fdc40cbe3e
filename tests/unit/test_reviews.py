"""Reviews: every source, the seeded splits, the small-data setting and the error messages."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from seqlab.data.reviews import ReviewsDataConfig
from seqlab.data.reviews import load_reviews, read_packaged_reviews
from seqlab.errors import DataError


def _csv(
    tmp_path: Path, rows: list[tuple[str, object]], columns: tuple[str, str] = ("text", "label")
) -> Path:
    path = tmp_path / "reviews.csv"
    pd.DataFrame(rows, columns=list(columns)).to_csv(path, index=False)
    return path


def _cfg(**kw: object) -> ReviewsDataConfig:
    return ReviewsDataConfig.model_validate(kw)


def _acl(root: Path, n: int = 6, test: bool = True) -> Path:
    parts = ["train", "test"] if test else ["train"]
    for part in parts:
        for sub in ("pos", "neg"):
            (root / part / sub).mkdir(parents=True)
            for i in range(n):
                (root / part / sub / f"{i}_7.txt").write_text(f"{part} {sub} review number {i}<br />end")
    (root / "train" / "unsup").mkdir()
    (root / "train" / "unsup" / "0_0.txt").write_text("unlabelled")
    return root


def test_synthetic_splits_are_seeded_and_disjoint() -> None:
    a = load_reviews(_cfg(source="synthetic", seed=3))
    b = load_reviews(_cfg(source="synthetic", seed=3))
    c = load_reviews(_cfg(source="synthetic", seed=4))
    assert a.train_texts == b.train_texts and a.train_texts != c.train_texts
    sizes = (len(a.train_texts), len(a.val_texts), len(a.test_texts))
    assert sum(sizes) == 64 and sizes[2] == 13 and sizes[1] == 10  # 20% of 64, then 20% of 51
    assert a.train_labels.dtype == np.int64 and len(a.train_labels) == sizes[0]
    d = a.describe()
    assert d["test"]["count"] == 13 and 0.0 <= d["train"]["positive_fraction"] <= 1.0 and d["source"]


def test_csv_with_string_labels(tmp_path: Path) -> None:
    rows = [
        (f"review {i} is {'good' if i % 2 else 'bad'}", ["neg", "Positive", "0", "1"][i % 4])
        for i in range(20)
    ]
    s = load_reviews(_cfg(source="csv", path=str(_csv(tmp_path, rows)), seed=0))
    texts = s.train_texts + s.val_texts + s.test_texts
    labels = np.concatenate([s.train_labels, s.val_labels, s.test_labels])
    assert sorted(texts) == sorted(t for t, _ in rows)
    for text, label in zip(texts, labels):
        assert label == int(text.endswith("good"))


def test_small_data_setting_keeps_the_first_samples(tmp_path: Path) -> None:
    full = load_reviews(_cfg(source="synthetic"))
    small = load_reviews(_cfg(source="synthetic", train_samples=5, val_samples=3))
    assert small.train_texts == full.train_texts[:5] and small.val_texts == full.val_texts[:3]
    assert small.test_texts == full.test_texts
    with pytest.raises(DataError, match=r"train_samples is 500 but the split has only 41 reviews"):
        load_reviews(_cfg(source="synthetic", train_samples=500))


def test_aclimdb_uses_its_test_folder(tmp_path: Path) -> None:
    root = _acl(tmp_path / "aclImdb")
    s = load_reviews(_cfg(source="aclimdb", path=str(root)))
    assert len(s.test_texts) == 12 and all(t.startswith("test ") for t in s.test_texts)
    assert len(s.train_texts) + len(s.val_texts) == 12  # train/unsup is ignored
    assert all(lab == int(" pos " in t) for t, lab in zip(s.test_texts, s.test_labels))
    assert load_reviews(_cfg(source="aclimdb", path=str(tmp_path))).test_texts == s.test_texts  # parent works


def test_aclimdb_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="aclImdb folder not found"):
        load_reviews(_cfg(source="aclimdb", path=str(tmp_path / "missing")))
    root = _acl(tmp_path / "acl", n=2)
    (root / "test" / "neg" / "0_7.txt").unlink()
    (root / "test" / "neg" / "1_7.txt").unlink()
    (root / "test" / "neg").rmdir()
    with pytest.raises(DataError, match=r"lacks subfolder\(s\) neg"):
        load_reviews(_cfg(source="aclimdb", path=str(root)))


@pytest.mark.parametrize(
    ("rows", "columns", "message"),
    [
        ([("fine", 1)], ("review", "label"), r"missing column\(s\) text; found columns: review, label"),
        (
            [("fine", 1), ("ok", "maybe")],
            ("text", "label"),
            r"row 2 has label 'maybe'; allowed: 0, 1, pos, neg",
        ),
        ([("fine", 1), ("   ", 0)], ("text", "label"), r"whitespace-only text in row\(s\) 2"),
        ([("fine", 1), ("", 0)], ("text", "label"), r"empty or whitespace-only text in row\(s\) 2"),
        ([], ("text", "label"), r"no reviews"),
    ],
)
def test_bad_csv_is_named(
    tmp_path: Path, rows: list[tuple[str, object]], columns: tuple[str, str], message: str
) -> None:
    path = _csv(tmp_path, rows, columns)
    with pytest.raises(DataError, match=message) as info:
        load_reviews(_cfg(source="csv", path=str(path)))
    assert str(path) in str(info.value)


def test_missing_csv(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="reviews CSV not found: .*nope.csv"):
        load_reviews(_cfg(source="csv", path=str(tmp_path / "nope.csv")))


def test_too_few_reviews(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="too few"):
        load_reviews(_cfg(source="csv", path=str(_csv(tmp_path, [("a", 1), ("b", 0)]))))


def test_packaged_imdb() -> None:
    texts, labels = read_packaged_reviews()
    assert len(texts) == 25_000 and set(labels.tolist()) == {0, 1} and labels.mean() == 0.5
    # the chapter's setting: train on 200 reviews, validate on 10,000 (so half of the non-test ones)
    s = load_reviews(_cfg(source="packaged", train_samples=200, val_samples=10_000, val_fraction=0.5))
    assert len(s.train_texts) == 200 and len(s.val_texts) == 10_000 and len(s.test_texts) == 5_000
    assert set(s.test_labels.tolist()) == {0, 1}
