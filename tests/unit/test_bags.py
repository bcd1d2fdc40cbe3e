"""Bags of word and hashed n-gram ids: encoding, batches without padding, train = predict, LazyAdam.

    python -m pytest tests/unit/test_bags.py -q
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from seqlab.tasks import load_config
from seqlab.data.bags import BagSplit, ngram_bags
from seqlab.data.text import WordIndex
from seqlab.errors import ConfigError, DataError
from seqlab.models.text import NgramBagClassifier
from seqlab.training.optim import LazyAdam, build_optimizer
from seqlab.tasks import get_task
from seqlab.tasks.sentiment import SentimentOptions, model_input

MULT = 1_000_003


def reference_bag(words: list[int], ngrams: int, buckets: int, first_id: int) -> list[int]:
    """One text's bag by a plain loop: words, then each k-gram's hash (k = 2..ngrams) in order."""
    out = list(words)
    for k in range(2, ngrams + 1):
        for end in range(k - 1, len(words)):
            h = 0
            for w in words[end - k + 1 : end + 1]:
                h = (h * MULT + w) % 2**64
            out.append(first_id + h % buckets)
    return out


def test_ngram_bags_match_a_plain_loop_and_never_cross_texts() -> None:
    texts = [[5, 6, 7, 5, 6], [], [9], [2, 3], [4, 4, 4]]
    flat = np.array([w for t in texts for w in t], dtype=np.int64)
    lengths = np.array([len(t) for t in texts])
    ids, sizes = ngram_bags(flat, lengths, ngrams=3, buckets=11, first_id=10)
    bags = np.split(ids, np.cumsum(sizes)[:-1])
    for text, bag in zip(texts, bags):
        assert bag.tolist() == reference_bag(text, 3, 11, 10)
    assert sizes.tolist() == [5 + 4 + 3, 0, 1, 2 + 1, 3 + 2 + 1]  # no n-gram spans two texts
    assert ids.dtype == np.int64 and ((ids >= 2) & (ids < 21)).all()


def test_binary_bags_keep_each_id_once_per_text() -> None:
    flat = np.array([4, 4, 4, 5, 4, 4], dtype=np.int64)
    ids, sizes = ngram_bags(flat, np.array([3, 3]), ngrams=2, buckets=7, first_id=10, unique=True)
    first, second = np.split(ids, [sizes[0]])
    assert sorted(first.tolist()) == sorted(set(reference_bag([4, 4, 4], 2, 7, 10)))  # [4, h(4,4)]
    assert sorted(second.tolist()) == sorted(set(reference_bag([5, 4, 4], 2, 7, 10)))
    assert sizes.tolist() == [2, 4]


def test_ngram_bags_reject_bad_arguments() -> None:
    with pytest.raises(DataError, match="add up to the 3 ids"):
        ngram_bags(np.array([1, 2, 3]), np.array([1, 1]), 2, 8, 4)
    with pytest.raises(DataError, match="buckets=0"):
        ngram_bags(np.array([1]), np.array([1]), 2, 0, 4)


def test_batch_gathers_bags_with_offsets_and_no_padding() -> None:
    ids = np.arange(100, 110, dtype=np.int64)
    split = BagSplit.from_lengths(ids, np.array([3, 0, 5, 2]), np.array([1, 0, 1, 0], dtype=np.float32))
    (batch_ids, offsets), y = split.batch(np.array([3, 1, 0]))
    assert batch_ids.tolist() == [108, 109, 100, 101, 102]  # bag 3, the empty bag 1, bag 0: nothing padded
    assert offsets.tolist() == [0, 2, 2]
    assert y.tolist() == [0, 0, 1]
    assert len(split) == 4


@pytest.fixture(scope="module")
def prepared():  # type: ignore[no-untyped-def]
    cfg = load_config("configs/sentiment/tiny.yaml", ["model.name=ngram_bag", "train.optimizer=adam",
                                                      "model.hash_buckets=64", "model.binary_bag=true"])
    return cfg, get_task("sentiment").prepare(cfg)


def test_prepare_hashes_ngrams_once_and_predict_encodes_the_same(prepared) -> None:  # type: ignore[no-untyped-def]
    from seqlab.data.reviews import load_reviews

    cfg, data = prepared
    bag = data.preprocessing["bag"]
    assert bag == {"ngrams": 2, "buckets": 64, "binary": True}  # saved with the model for the predictor
    assert isinstance(data.train, BagSplit)
    index = WordIndex.from_dict(data.preprocessing["word_index"])
    assert (data.train.ids >= index.max_words).any()  # n-gram rows are already in the prepared ids
    assert (data.train.ids > 0).all()  # and no padding id anywhere
    texts = load_reviews(cfg.data).train_texts
    ids, offsets = model_input(index, texts, data.preprocessing)
    assert torch.equal(ids, torch.from_numpy(data.train.ids))
    assert torch.equal(offsets, torch.from_numpy(data.train.starts[:-1]))
    (batch_ids, batch_offsets), _ = data.train.batch(np.arange(len(data.train)))
    assert np.array_equal(batch_ids, data.train.ids) and np.array_equal(batch_offsets, data.train.starts[:-1])


def test_predictor_answers_raw_texts_with_the_bag_encoding(prepared) -> None:  # type: ignore[no-untyped-def]
    cfg, data = prepared
    task = get_task("sentiment")
    module = task.build_model(cfg, data.preprocessing)
    predictor = task.predictor(module, data.preprocessing)
    request = task.pyfunc_request(["a wonderful film", "boring"])  # raw texts, as the MLflow pyfunc gets them
    (answer,) = predictor([request], SentimentOptions())
    assert isinstance(answer, dict), answer
    answers = answer["predictions"]
    assert [a["label"] in ("positive", "negative") for a in answers] == [True, True]
    assert all(0.0 <= a["probability"] <= 1.0 for a in answers)
    old = {k: v for k, v in data.preprocessing.items() if k != "bag"}  # saved before bags existed
    with pytest.raises(DataError, match="no 'bag' settings"):
        task.build_model(cfg, old)


def test_lazy_adam_touches_only_the_batch_rows() -> None:
    torch.manual_seed(0)
    model = NgramBagClassifier(rows=50, embed_dim=4, dropout=0.0)
    opt = build_optimizer("adam", model, lr=0.1, weight_decay=0.01)
    assert isinstance(opt, LazyAdam)
    before = model.bag.weight.detach().clone()
    ids, offsets = torch.tensor([3, 9, 9, 41]), torch.tensor([0, 2])
    model(ids, offsets).sum().backward()
    opt.step()
    changed = (model.bag.weight.detach() != before).any(dim=1).nonzero().flatten().tolist()
    assert changed == [3, 9, 41]
    state = opt.state[model.bag.weight]
    assert (state["exp_avg_sq"].abs().sum(dim=1) > 0).nonzero().flatten().tolist() == [3, 9, 41]


def test_lazy_adam_equals_adam_when_every_row_is_touched() -> None:
    torch.manual_seed(0)
    sparse = NgramBagClassifier(rows=6, embed_dim=3, dropout=0.0)
    dense = NgramBagClassifier(rows=6, embed_dim=3, dropout=0.0, sparse=False)
    dense.load_state_dict(sparse.state_dict())
    lazy, adam = LazyAdam(sparse.parameters(), lr=0.05), torch.optim.Adam(dense.parameters(), lr=0.05)
    ids, offsets, y = torch.tensor([0, 1, 2, 2, 3, 4, 5, 0]), torch.tensor([0, 3, 5]), torch.tensor([1.0, 0.0, 1.0])
    for model, opt in ((sparse, lazy), (dense, adam)):
        for _ in range(4):
            opt.zero_grad()
            torch.nn.functional.binary_cross_entropy_with_logits(model(ids, offsets), y).backward()
            opt.step()
    for a, b in zip(sparse.parameters(), dense.parameters()):
        assert torch.allclose(a, b, atol=1e-6)


def test_ngram_bag_refuses_optimizers_without_sparse_updates() -> None:
    with pytest.raises(ConfigError, match="only train.optimizer='adam'.*got train.optimizer='rmsprop'"):
        load_config("configs/sentiment/tiny.yaml", ["model.name=ngram_bag", "train.optimizer=rmsprop"])


def test_training_loop_feeds_bags_as_model_arguments(prepared) -> None:  # type: ignore[no-untyped-def]
    from seqlab.training.loop import run_epochs

    cfg, data = prepared
    cfg = cfg.model_copy(update={"train": cfg.train.model_copy(update={"epochs": 4, "lr": 0.05})})
    history = run_epochs(cfg, data)["history"]  # model(*x) with x = (ids, offsets); LazyAdam on the table
    assert history[-1]["train_loss"] < history[0]["train_loss"]
