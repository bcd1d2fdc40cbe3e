"""Reviews from sharded files read with Ray Data (data.source: files): local Parquet, CSV and JSON lines, and
s3:// through moto's S3 server on 127.0.0.1; the same split for any shard layout; bad shards named."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from seqlab.data.reviews import load_reviews
from seqlab.data.shards import write_shards
from seqlab.data.synthetic import synthetic_reviews
from seqlab.errors import DataError
from seqlab.tasks import get_task, load_config

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.usefixtures("ray_session")


def _files_cfg(path: str, *overrides: str, **data: object):  # type: ignore[no-untyped-def]
    tree = {"task": "sentiment", "data.source": "files", "data.path": path, "data.max_words": 64, "data.maxlen": 16,
            **{f"data.{k}": v for k, v in data.items()}}
    for item in overrides:
        key, value = item.split("=", 1)
        tree[key] = value
    return load_config(None, tree)


def _reviews() -> pd.DataFrame:
    texts, labels = synthetic_reviews(n=64, seed=0)
    return pd.DataFrame({"text": texts, "label": labels})


def test_the_same_rows_in_any_layout_give_the_same_splits_and_word_index(tmp_path: Path) -> None:
    frame = _reviews()
    parquet, csv, jsonl = tmp_path / "pq", tmp_path / "csv", tmp_path / "js"
    for folder in (parquet, csv, jsonl):
        folder.mkdir()
    for i in range(3):
        frame.iloc[i::3].to_parquet(parquet / f"part-{i}.parquet")
    shuffled = frame.sample(frac=1.0, random_state=1)
    for i in range(5):  # other files, other order, labels as words
        part = shuffled.iloc[i * 13:(i + 1) * 13]
        part.assign(label=part["label"].map({0: "neg", 1: "pos"})).to_csv(csv / f"s{i}.csv", index=False)
        part.to_json(jsonl / f"s{i}.jsonl", orient="records", lines=True)
    a, b, c = (load_reviews(_files_cfg(str(p)).data) for p in (parquet, csv / "*.csv", jsonl))
    for split in ("train", "val", "test"):
        assert getattr(a, f"{split}_texts") == getattr(b, f"{split}_texts") == getattr(c, f"{split}_texts")
        assert np.array_equal(getattr(a, f"{split}_labels"), getattr(b, f"{split}_labels"))
    assert len(a.train_texts) + len(a.val_texts) + len(a.test_texts) == 64 and a.val_texts and a.test_texts
    assert a.word_counts is not None and a.word_counts == b.word_counts
    task = get_task("sentiment")
    prepared = task.prepare(_files_cfg(str(parquet)))
    assert prepared.preprocessing == task.prepare(_files_cfg(str(jsonl))).preprocessing
    assert len(prepared.train) == len(a.train_texts)
    assert set(a.train_texts).isdisjoint(a.test_texts)


def test_a_separate_test_source_is_the_test_split(tmp_path: Path) -> None:
    frame = _reviews()
    (tmp_path / "train").mkdir(), (tmp_path / "test").mkdir()
    frame.iloc[:48].to_parquet(tmp_path / "train" / "part-0.parquet")
    frame.iloc[48:].to_parquet(tmp_path / "test" / "part-0.parquet")
    reviews = load_reviews(_files_cfg(str(tmp_path / "train"), test_path=str(tmp_path / "test")).data)
    assert sorted(reviews.test_texts) == sorted(frame["text"].iloc[48:])
    assert len(reviews.train_texts) + len(reviews.val_texts) == 48


@pytest.mark.parametrize("write, expected", [
    (lambda d: pd.DataFrame({"review": ["good"], "label": [1]}).to_parquet(d / "part-9.parquet"),
     r"part-9.parquet: no column 'text'; its columns: review, label"),
    (lambda d: pd.DataFrame({"text": ["good", "bad"], "label": ["pos", "neg"]}).to_parquet(d / "part-9.parquet"),
     r"part-9.parquet: column 'label' is large_string where .*part-0.parquet has int64"),
    (lambda d: pd.DataFrame({"text": ["good", "fine", "  "], "label": [1, 1, 0]}).to_parquet(d / "part-9.parquet"),
     r"part-9.parquet: row 3 text is '  ', not a text with a word"),
    (lambda d: pd.DataFrame({"text": ["good", "so so"], "label": [1, 7]}).to_parquet(d / "part-9.parquet"),
     r"part-9.parquet: row 2 label is 7; allowed: 0, 1, pos, neg, positive, negative"),
])
def test_a_bad_parquet_shard_is_named_with_its_row(tmp_path: Path, write, expected: str) -> None:  # type: ignore[no-untyped-def]
    _reviews().to_parquet(tmp_path / "part-0.parquet")
    write(tmp_path)
    with pytest.raises(DataError, match=expected):
        load_reviews(_files_cfg(str(tmp_path)).data)


def test_bad_text_files_are_named(tmp_path: Path) -> None:
    (tmp_path / "csv").mkdir(), (tmp_path / "js").mkdir()
    (tmp_path / "csv" / "part-0.csv").write_bytes(b"text,label\ngood film,pos\n\xff\xfe not utf-8,neg\n")
    with pytest.raises(DataError, match=r"part-0.csv: cannot be read as csv: .*invalid UTF8"):
        load_reviews(_files_cfg(str(tmp_path / "csv")).data)
    (tmp_path / "js" / "part-0.jsonl").write_text('{"text": "good", "label": 1}\n{"text": "cut off", "lab\n')
    with pytest.raises(DataError, match=r"part-0.jsonl: cannot be read as json: JSON parse error"):
        load_reviews(_files_cfg(str(tmp_path / "js")).data)


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """moto's S3 server (a real S3 HTTP API) on 127.0.0.1, with test credentials; yields the endpoint."""
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    # without credentials the AWS SDKs would ask the instance-metadata address, which is not loopback
    for key, value in {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY":
                       "testing", "AWS_EC2_METADATA_DISABLED": "true", "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(key, value)
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket="reviews")
    yield endpoint
    server.stop()


def test_train_from_s3_shards_as_from_the_same_local_shards(s3: str, tmp_path: Path, mlflow_uri: str) -> None:
    from seqlab.training.driver import run_training

    texts, labels = synthetic_reviews(n=64, seed=0)
    written = write_shards(texts, labels, "s3://reviews/imdb/", "parquet", files=3)
    assert written == [f"reviews/imdb/part-{i:05d}.parquet" for i in range(3)]
    write_shards(texts, labels, str(tmp_path / "local"), "parquet", files=3)
    remote = load_reviews(_files_cfg("s3://reviews/imdb/").data)
    local = load_reviews(_files_cfg(str(tmp_path / "local")).data)
    assert remote.train_texts == local.train_texts and remote.test_texts == local.test_texts
    assert remote.source.startswith("files s3://reviews/imdb/ (3 parquet files)")

    cfg = _files_cfg("s3://reviews/imdb/", f"train.storage_path={tmp_path / 'store'}", "train.epochs=1",
                     "model.name=gru", "model.embed_dim=8", "model.hidden=8", "train.batch_size=8",
                     "tracking.log_model=false")
    result = run_training(cfg)
    assert [h["epoch"] for h in result.history] == [1]
    assert 0.0 <= result.test_metrics["test_accuracy"] <= 1.0
    task = get_task("sentiment")
    before = task.data_fingerprint(cfg)
    write_shards(texts[:60], labels[:60], "s3://reviews/imdb/", "parquet", files=3)  # other data, same URI
    assert task.data_fingerprint(cfg) != before
    with pytest.raises(DataError, match="data.path 's3://nowhere/x/': no such file or folder"):
        load_reviews(_files_cfg("s3://nowhere/x/").data)
    assert os.environ["AWS_ENDPOINT_URL"] == s3
