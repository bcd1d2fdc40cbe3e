"""The chapter's Keras settings that seqlab reproduces: RMSprop, recurrent initial weights, padding, the window.

    python -m pytest tests/unit/test_keras_parity.py -q
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from seqlab.models.text import TextModelConfig
from seqlab.tasks import load_config
from seqlab.models.text import build_text_model
from seqlab.training.optim import build_optimizer
from seqlab.tasks import get_task
from seqlab.tasks.sentiment import model_input
from seqlab.data.text import WordIndex


def keras_rmsprop(p: np.ndarray, grads: list[np.ndarray], lr: float, rho: float = 0.9,
                  eps: float = 1e-7) -> np.ndarray:
    """Keras' RMSprop written out: v = rho v + (1 - rho) g^2; p -= lr g / sqrt(v + eps)."""
    v = np.zeros_like(p)
    for g in grads:
        v = rho * v + (1 - rho) * g * g
        p = p - lr * g / np.sqrt(v + eps)
    return p


def test_rmsprop_steps_like_keras() -> None:
    # a large, a small and a rare (tiny) gradient: torch's RMSprop (alpha 0.99, eps after the root) moves the
    # tiny one as far as the large one (10 x lr); Keras' moves it about 0.03 x lr
    grads = [np.array([0.5, 1e-3, 1e-5], dtype=np.float64), np.array([-0.2, 2e-3, 0.0], dtype=np.float64)]
    model = nn.Linear(3, 1, bias=False).double()
    with torch.no_grad():
        model.weight.zero_()
    opt = build_optimizer("keras_rmsprop", model, lr=1e-3, weight_decay=0.0)
    for g in grads:
        opt.zero_grad()
        model.weight.grad = torch.as_tensor(g).reshape(1, 3).clone()
        opt.step()
    expected = keras_rmsprop(np.zeros(3), grads, lr=1e-3)
    np.testing.assert_allclose(model.weight.detach().numpy()[0], expected, rtol=1e-6)
    assert abs(model.weight[0, 2].item()) < 1e-4  # the rare row barely moves


def test_rmsprop_weight_decay_adds_to_the_gradient() -> None:
    model = nn.Linear(1, 1, bias=False).double()
    with torch.no_grad():
        model.weight.fill_(2.0)
    opt = build_optimizer("keras_rmsprop", model, lr=0.1, weight_decay=0.5)
    model.weight.grad = torch.zeros(1, 1, dtype=torch.float64)
    opt.step()
    g = 0.5 * 2.0  # the decay's gradient alone
    assert model.weight.item() == pytest.approx(2.0 - 0.1 * g / np.sqrt(0.1 * g * g + 1e-7))


@pytest.mark.parametrize("bidirectional", [False, True])
def test_lstm_starts_like_keras(bidirectional: bool) -> None:
    cfg = TextModelConfig(name="lstm", embed_dim=8, hidden=6, layers=2, bidirectional=bidirectional)
    model = build_text_model(cfg, vocab_size=50, maxlen=10)
    h = 6
    params = dict(model.rnn.named_parameters())
    for name, p in params.items():
        if name.startswith("weight_hh"):  # orthonormal columns, like Keras' orthogonal recurrent kernel
            np.testing.assert_allclose((p.T @ p).detach().numpy(), np.eye(h), atol=1e-5)
        elif name.startswith("weight_ih"):  # glorot-uniform: limit sqrt(6 / (fan_in + fan_out))
            limit = np.sqrt(6 / (p.shape[1] + p.shape[0]))
            assert p.abs().max().item() <= limit and p.std().item() > limit / 3
        elif name.startswith("bias_hh"):
            assert torch.count_nonzero(p) == 0
        elif name.startswith("bias_ih"):  # gates input, forget, cell, output: only the forget gate starts at 1
            expected = torch.zeros(4 * h)
            expected[h : 2 * h] = 1.0
            torch.testing.assert_close(p.detach(), expected)
    head = model.head[1]
    assert torch.count_nonzero(head.bias) == 0
    assert head.weight.abs().max().item() <= np.sqrt(6 / (head.in_features + 1))


@pytest.mark.parametrize(("name", "trained_hh"), [("lstm", False), ("simple_rnn", False), ("gru", True)])
def test_lstm_and_rnn_train_one_bias_like_keras(name: str, trained_hh: bool) -> None:
    """PyTorch adds bias_ih and bias_hh; Keras' LSTM and SimpleRNN have one bias (its GRU has two)."""
    torch.manual_seed(0)
    model = build_text_model(TextModelConfig(name=name, embed_dim=8, hidden=6), vocab_size=50, maxlen=10)
    opt = build_optimizer("keras_rmsprop", model, lr=1e-2, weight_decay=0.0)
    tokens = torch.tensor([[0, 0, 0, 5, 7], [0, 3, 4, 5, 9]])
    before = {n: p.detach().clone() for n, p in model.rnn.named_parameters()}
    for _ in range(2):
        opt.zero_grad()
        nn.functional.binary_cross_entropy_with_logits(model(tokens), torch.tensor([1.0, 0.0])).backward()
        opt.step()
    for n, p in model.rnn.named_parameters():
        moved = not torch.equal(p, before[n])
        assert moved is (trained_hh or not n.startswith("bias_hh")), n
        assert p.requires_grad is moved, n


@pytest.mark.parametrize("name", ["gru", "simple_rnn"])
def test_gru_and_rnn_start_with_zero_biases(name: str) -> None:
    model = build_text_model(TextModelConfig(name=name, embed_dim=8, hidden=6), vocab_size=50, maxlen=10)
    for pname, p in model.rnn.named_parameters():
        if pname.startswith("bias"):
            assert torch.count_nonzero(p) == 0, pname
        if pname.startswith("weight_hh"):
            np.testing.assert_allclose((p.T @ p).detach().numpy(), np.eye(6), atol=1e-5)


@pytest.mark.parametrize("name", ["lstm", "gru", "simple_rnn"])
def test_recurrent_models_train_the_padding_vector(name: str) -> None:
    """Keras' Embedding (no mask_zero) trains row 0 like any word: the state a short review starts from."""
    model = build_text_model(TextModelConfig(name=name, embed_dim=8, hidden=6), vocab_size=50, maxlen=10)
    assert model.embedding.weight[0].abs().sum() > 0  # drawn like the other rows
    tokens = torch.tensor([[0, 0, 0, 5, 7], [0, 3, 4, 5, 9]])
    nn.functional.binary_cross_entropy_with_logits(model(tokens), torch.tensor([1.0, 0.0])).backward()
    assert model.embedding.weight.grad[0].abs().sum() > 0


def test_pretrained_vectors_keep_an_untrained_zero_padding_row() -> None:
    matrix = np.random.default_rng(0).normal(size=(50, 8)).astype(np.float32)
    matrix[0] = 0.0
    cfg = TextModelConfig(name="lstm", embedding="glove", embed_dim=8, hidden=6)
    model = build_text_model(cfg, vocab_size=50, maxlen=10, embedding_matrix=matrix)
    assert model.embedding.padding_idx == 0
    np.testing.assert_array_equal(model.embedding.weight.detach().numpy(), matrix)


@pytest.mark.parametrize("name", ["flatten", "conv1d"])
def test_other_models_keep_padding_at_zero(name: str) -> None:
    cfg = TextModelConfig(name=name, embed_dim=8, conv_filters=4, conv_kernel=2, pool=2)
    model = build_text_model(cfg, vocab_size=50, maxlen=10)
    assert model.embedding.padding_idx == 0 and model.embedding.weight[0].abs().sum() == 0


def test_reviews_keep_their_last_words_next_to_the_output() -> None:
    """Keras' pad_sequences defaults (padding and truncating 'pre'): the recurrent model's last step reads the
    review's last word, and a long review loses its beginning."""
    index = WordIndex.fit(["w1 w2 w3 w4 w5 w6"], max_words=20)
    x = model_input(index, ["w1 w2 w3 w4 w5 w6", "w5 w6"], {"maxlen": 4})
    ids = {w: index.word_to_id[w] for w in ("w3", "w4", "w5", "w6")}
    assert x.tolist() == [[ids["w3"], ids["w4"], ids["w5"], ids["w6"]], [0, 0, ids["w5"], ids["w6"]]]


def test_the_chapter_lstm_config_is_the_chapter_model() -> None:
    cfg = load_config("configs/sentiment/lstm.yaml")
    sizes = (cfg.data.max_words, cfg.data.maxlen, cfg.model.embed_dim, cfg.model.hidden)
    assert sizes == (10_000, 500, 32, 32)
    assert (cfg.train.optimizer, cfg.train.batch_size, cfg.train.lr) == ("keras_rmsprop", 128, 1e-3)
    model = get_task("sentiment").build_model(cfg, {"word_index": {"max_words": 10_000}, "maxlen": 500})
    assert isinstance(model.rnn, nn.LSTM) and model.rnn.num_layers == 1 and not model.rnn.bidirectional
