"""Every size has an upper bound that fails at validation, before Ray starts (issue 17, item 7): before, these
passed `seqlab validate` and failed inside torch or numpy on a worker ("can't allocate 256000000000 bytes")."""

from __future__ import annotations

import pytest

from seqlab.errors import ConfigError
from seqlab.tasks import load_config


@pytest.mark.parametrize("task, key, value, allowed", [
    ("sentiment", "model.embed_dim", 10**6, "less than or equal to 4096"),
    ("sentiment", "data.max_words", 10**9, "less than or equal to 10000000"),
    ("sentiment", "data.maxlen", 10**7, "less than or equal to 100000"),
    ("sentiment", "model.conv_filters", 10**6, "less than or equal to 4096"),
    ("sentiment", "model.conv_kernel", 10**6, "less than or equal to 1024"),
    ("forecast", "model.conv_filters", 10**6, "less than or equal to 4096"),
    ("forecast", "model.pool", 10**6, "less than or equal to 1024"),
    ("forecast", "train.torch_threads", 10**6, "less than or equal to 1024"),
    ("forecast", "train.batch_size", 10**9, "less than or equal to 65536"),
    ("forecast", "train.epochs", 10**9, "less than or equal to 100000"),
    ("forecast", "train.num_workers", 10**6, "less than or equal to 1024"),
])
def test_a_size_past_its_bound_names_the_key_and_the_bound(task: str, key: str, value: int, allowed: str) -> None:
    with pytest.raises(ConfigError, match=rf"{key}: Input should be {allowed}, got {value}"):
        load_config(None, {"task": task, key: value})


def test_sizes_that_pass_alone_but_multiply_to_gigabytes_are_refused() -> None:
    # 2,000,000 words x 2048 dimensions: 15.3 GiB of embedding table, each value under its own bound
    with pytest.raises(ConfigError, match=r"embedding table \(2,000,000 rows x model.embed_dim=2048\) would hold "
                                          r"15.3 GiB of float32 weights; at most 4 GiB"):
        load_config(None, {"task": "sentiment", "data.max_words": 2_000_000, "model.embed_dim": 2048})
    with pytest.raises(ConfigError, match=r"dense layer \(data.maxlen=100000 x model.embed_dim=512 x model.hidden=64\)"):
        load_config(None, {"task": "sentiment", "model.name": "flatten", "data.maxlen": 100_000,
                           "model.embed_dim": 512, "model.hidden": 64})
    ok = load_config(None, {"task": "sentiment", "model.name": "ngram_bag", "model.hash_buckets": 2**24,
                            "model.embed_dim": 32})
    assert ok.model.hash_buckets == 2**24  # type: ignore[attr-defined]


@pytest.mark.parametrize("key", ["train.epochs", "train.lr", "train.torch_threads", "data.maxlen"])
def test_a_yaml_boolean_is_not_taken_for_a_number(key: str) -> None:
    # before: pydantic turned true into 1, so `train.epochs=true` trained one epoch and said nothing
    with pytest.raises(ConfigError, match=rf"{key}: expected a number, not the YAML boolean true"):
        load_config(None, {"task": "sentiment", key: True})
    assert load_config(None, {"task": "sentiment", "model.name": "gru", "model.bidirectional": True,
                              "train.use_gpu": False}).model.bidirectional  # type: ignore[attr-defined]
    with pytest.raises(ConfigError, match="data.path: Input should be a valid string"):
        load_config(None, {"task": "sentiment", "data.source": "csv", "data.path": True})


@pytest.mark.parametrize("tree, expected", [
    # before: validate exited 0; the served model then accepted any float and /openapi.json answered 500
    ({"data.bounds_margin": float("inf")}, "data.bounds_margin: Input should be a finite number"),
    # before: a NaN bound compared false with every value and silently switched the column's rule off
    ({"data.clean": {"temp": {"min": float("nan")}}}, r"data.clean.temp.min: Input should be a finite number"),
    ({"data.clean": {"temp": {"sentinels": [float("inf")]}}}, r"data.clean.temp.sentinels.0: Input should be a finite"),
    ({"data.lookback": 10**9}, "data.lookback: Input should be less than or equal to 1000000"),
])
def test_series_values_that_would_break_later_fail_at_validation(tree: dict, expected: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(ConfigError, match=expected):
        load_config(None, {"task": "forecast", **tree})
