"""Unit tests of the text and series models: shapes, learning, embeddings, recurrent dropout, DDP.

    python -m pytest tests/unit/test_models.py -q
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from seqlab.models.series import SERIES_MODELS, SeriesModelConfig
from seqlab.models.text import TEXT_MODELS, TextModelConfig
from seqlab.data.synthetic import synthetic_reviews, synthetic_weather
from seqlab.errors import ConfigError
from seqlab.models.series import build_series_model, min_conv_length
from seqlab.models.text import build_text_model
from seqlab.training.optim import build_optimizer

VOCAB, MAXLEN = 40, 12  # conv1d with kernel 3 and pool 2 needs maxlen >= 8
WINDOW, FEATURES = 24, 3  # conv1d (3 convs) with kernel 3 and pool 2 needs >= 18 steps
RECURRENT = ("gru", "lstm", "conv1d_gru")


@pytest.fixture(autouse=True, scope="module")
def one_thread() -> Iterator[None]:
    """The models are tiny: one thread is fastest and does not fight other tests for cores."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def text_cfg(name: str, **kw: Any) -> TextModelConfig:
    sizes: dict[str, Any] = {"embed_dim": 8, "hidden": 8, "conv_filters": 8, "conv_kernel": 3, "pool": 2}
    return TextModelConfig(name=name, **{**sizes, **kw})


def series_cfg(name: str, **kw: Any) -> SeriesModelConfig:
    sizes: dict[str, Any] = {"hidden": 8, "conv_filters": 8, "conv_kernel": 3, "pool": 2}
    return SeriesModelConfig(name=name, **{**sizes, **kw})


def review_batch(n: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    """Synthetic reviews as pre-padded token ids (0 = padding, 1 = OOV), like the real pipeline."""
    texts, labels = synthetic_reviews(n, seed=0)
    words = sorted({w for t in texts for w in t.lower().rstrip(".").split()})
    index = {w: i + 2 for i, w in enumerate(words[: VOCAB - 2])}
    ids = np.zeros((n, MAXLEN), dtype=np.int64)
    for row, text in enumerate(texts):
        seq = [index.get(w, 1) for w in text.lower().rstrip(".").split()][-MAXLEN:]
        ids[row, MAXLEN - len(seq) :] = seq
    return torch.from_numpy(ids), torch.from_numpy(labels).float()


def weather_batch(n: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    """Normalized windows of the noisy synthetic series; target: temperature 6 h after the window."""
    values = synthetic_weather(n * 4 + WINDOW + 6, seed=0)[["temp", "humid", "pressure"]].to_numpy(np.float32)
    values = (values - values.mean(0)) / values.std(0)
    starts = np.arange(0, n * 4, 4)
    x = np.stack([values[s : s + WINDOW] for s in starts])
    y = values[starts + WINDOW + 5, 0]
    return torch.from_numpy(x), torch.from_numpy(y)


def as_args(name: str, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """The model's positional inputs: padded ids, or for ngram_bag the same words as a bag (ids, offsets)."""
    if name != "ngram_bag":
        return (x,)
    lengths = (x > 0).sum(dim=1)
    return x[x > 0], torch.cumsum(lengths, 0) - lengths


def fit_losses(
    model: nn.Module, x: torch.Tensor | tuple[torch.Tensor, ...], y: torch.Tensor, loss_fn: nn.Module,
    steps: int = 15,
) -> list[float]:
    opt = build_optimizer("adam", model, lr=1e-2, weight_decay=0.0)  # LazyAdam for sparse tables
    args = x if isinstance(x, tuple) else (x,)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = loss_fn(model(*args), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


# ------------------------------------------------------------------------------------------------- shapes


@pytest.mark.parametrize(
    "variant", [{}, {"layers": 2, "bidirectional": True, "dropout": 0.2}], ids=["plain", "stacked-bi"]
)
@pytest.mark.parametrize("name", TEXT_MODELS)
def test_text_model_output_shape(name: str, variant: dict[str, Any]) -> None:
    torch.manual_seed(0)
    model = build_text_model(text_cfg(name, **variant), VOCAB, MAXLEN)
    out = model(*as_args(name, torch.randint(0, VOCAB, (5, MAXLEN))))
    assert out.shape == (5,) and out.dtype == torch.float32
    assert torch.isfinite(out).all()


@pytest.mark.parametrize(
    "variant",
    [{}, {"layers": 2, "bidirectional": True, "dropout": 0.2, "recurrent_dropout": 0.3}],
    ids=["plain", "stacked-bi-dropout"],
)
@pytest.mark.parametrize("name", SERIES_MODELS)
def test_series_model_output_shape(name: str, variant: dict[str, Any]) -> None:
    torch.manual_seed(0)
    model = build_series_model(series_cfg(name, **variant), WINDOW, FEATURES)
    out = model(torch.randn(5, WINDOW, FEATURES))
    assert out.shape == (5,) and out.dtype == torch.float32
    assert torch.isfinite(out).all()


def test_flatten_hidden_layer_follows_layers() -> None:
    one = build_text_model(text_cfg("flatten"), VOCAB, MAXLEN)
    two = build_text_model(text_cfg("flatten", layers=2), VOCAB, MAXLEN)
    assert sum(isinstance(m, nn.Linear) for m in one.modules()) == 1  # Flatten -> Dense(1)
    assert sum(isinstance(m, nn.Linear) for m in two.modules()) == 2  # Flatten -> Dense(hidden) -> Dense(1)


# ----------------------------------------------------------------------------------------------- learning


@pytest.mark.parametrize("name", TEXT_MODELS)
def test_text_model_learns(name: str) -> None:
    torch.manual_seed(0)
    x, y = review_batch()
    losses = fit_losses(build_text_model(text_cfg(name), VOCAB, MAXLEN), as_args(name, x), y, nn.BCEWithLogitsLoss())
    assert losses[-1] < losses[0]


@pytest.mark.parametrize("name", SERIES_MODELS)
def test_series_model_learns(name: str) -> None:
    torch.manual_seed(0)
    x, y = weather_batch()
    losses = fit_losses(build_series_model(series_cfg(name), WINDOW, FEATURES), x, y, nn.MSELoss())
    assert losses[-1] < losses[0]


# --------------------------------------------------------------------------------------------- embeddings


def glove_like(dim: int = 8) -> np.ndarray:
    matrix = np.random.default_rng(0).normal(size=(VOCAB, dim)).astype(np.float32)
    matrix[0] = 0.0  # padding row, as a GloVe matrix built for a word index has it
    return matrix


@pytest.mark.parametrize("name", [n for n in TEXT_MODELS if n != "ngram_bag"])
def test_embedding_starts_from_matrix(name: str) -> None:
    matrix = glove_like()
    model = build_text_model(text_cfg(name, embedding="glove"), VOCAB, MAXLEN, embedding_matrix=matrix)
    emb = next(m for m in model.modules() if isinstance(m, nn.Embedding))
    assert emb.padding_idx == 0
    np.testing.assert_array_equal(emb.weight.detach().numpy(), matrix)


@pytest.mark.parametrize("freeze", [True, False])
def test_frozen_embedding_does_not_train(freeze: bool) -> None:
    torch.manual_seed(0)
    cfg = text_cfg("gru", embedding="glove", freeze_embedding=freeze)
    model = build_text_model(cfg, VOCAB, MAXLEN, embedding_matrix=glove_like())
    emb = next(m for m in model.modules() if isinstance(m, nn.Embedding))
    before = emb.weight.detach().clone()
    fit_losses(model, *review_batch(), nn.BCEWithLogitsLoss(), steps=1)
    assert emb.weight.requires_grad is not freeze
    assert torch.equal(emb.weight, before) is freeze
    assert torch.equal(emb.weight[0], before[0])  # padding row never trains


def test_embedding_matrix_shape_mismatch_names_both_shapes() -> None:
    with pytest.raises(ConfigError, match=r"\(40, 5\).*\(40, 8\)"):
        build_text_model(text_cfg("flatten"), VOCAB, MAXLEN, embedding_matrix=np.zeros((VOCAB, 5)))


# -------------------------------------------------------------------------------------- recurrent dropout


@pytest.mark.parametrize("name", RECURRENT)
def test_recurrent_dropout_only_in_training(name: str) -> None:
    torch.manual_seed(0)
    # dropout=0, so any randomness comes from the dropped recurrent weights
    model = build_series_model(series_cfg(name, recurrent_dropout=0.5), WINDOW, FEATURES)
    raw = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.randn(4, WINDOW, FEATURES)
    model.train()
    assert not torch.allclose(model(x), model(x))
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(x), model(x))
    assert all(torch.equal(v, raw[k]) for k, v in model.state_dict().items())  # dropping never writes weights


@pytest.mark.parametrize("name", RECURRENT)
def test_recurrent_dropout_state_dict_round_trip(name: str) -> None:
    cfg = series_cfg(name, layers=2, bidirectional=True, dropout=0.2, recurrent_dropout=0.3)
    torch.manual_seed(0)
    model = build_series_model(cfg, WINDOW, FEATURES)
    fit_losses(model, *weather_batch(), nn.MSELoss(), steps=2)
    torch.manual_seed(1)
    fresh = build_series_model(cfg, WINDOW, FEATURES)
    no_dropout = build_series_model(series_cfg(name, layers=2, bidirectional=True), WINDOW, FEATURES)
    assert fresh.state_dict().keys() == no_dropout.state_dict().keys()  # dropout adds no parameters
    fresh.load_state_dict(model.state_dict())
    x = torch.randn(4, WINDOW, FEATURES)
    model.eval()
    fresh.eval()
    with torch.no_grad():
        assert torch.equal(model(x), fresh(x))


# ----------------------------------------------------------------------------------------------------- DDP


@pytest.fixture(scope="module")
def gloo_group() -> Iterator[None]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=0, world_size=1)
    yield
    dist.destroy_process_group()


STACKED = {"layers": 2, "bidirectional": True, "dropout": 0.2, "recurrent_dropout": 0.3}
DDP_CASES = [("sentiment", n, {}) for n in TEXT_MODELS] + [
    ("sentiment", "gru", {"embedding": "glove", "freeze_embedding": True}),
    *[("forecast", n, STACKED) for n in SERIES_MODELS],
]


@pytest.mark.parametrize(
    ("task", "name", "variant"), DDP_CASES, ids=[f"{t}-{n}-{i}" for i, (t, n, _) in enumerate(DDP_CASES)]
)
def test_model_trains_under_ddp(gloo_group: None, task: str, name: str, variant: dict[str, Any]) -> None:
    torch.manual_seed(0)
    if task == "sentiment":
        model = build_text_model(text_cfg(name, **variant), VOCAB, MAXLEN, embedding_matrix=glove_like())
        padded, y = review_batch(8)
        x = as_args(name, padded)
        loss_fn: nn.Module = nn.BCEWithLogitsLoss()
    else:
        model = build_series_model(series_cfg(name, **variant), WINDOW, FEATURES)
        window, y = weather_batch(8)
        x, loss_fn = (window,), nn.MSELoss()
    ddp = DistributedDataParallel(model)
    ddp.train()
    loss_fn(ddp(*x), y).backward()
    for pname, param in model.named_parameters():
        if param.requires_grad:
            assert param.grad is not None, pname
            grad = param.grad._values() if param.grad.is_sparse else param.grad  # ngram_bag: sparse table
            assert torch.isfinite(grad).all(), pname
        else:
            assert param.grad is None, pname


# ------------------------------------------------------------------------------------------ config errors


@pytest.mark.parametrize(("name", "convs"), [("conv1d", 3), ("conv1d_gru", 2)])
def test_series_window_too_short(name: str, convs: int) -> None:
    need = min_conv_length(3, 2, convs)
    assert build_series_model(series_cfg(name), need, FEATURES)(torch.randn(2, need, FEATURES)).shape == (2,)
    with pytest.raises(ConfigError, match=f"minimum is {need}"):
        build_series_model(series_cfg(name), need - 1, FEATURES)


def test_text_maxlen_too_short_for_conv() -> None:
    need = 3 * 2 + 3 - 1  # conv(3) -> pool(2) -> conv(3)
    ok = build_text_model(text_cfg("conv1d"), VOCAB, need)
    assert ok(torch.ones(2, need, dtype=torch.long)).shape == (2,)
    with pytest.raises(ConfigError, match=f"minimum maxlen is {need}"):
        build_text_model(text_cfg("conv1d"), VOCAB, need - 1)
    assert build_text_model(text_cfg("gru"), VOCAB, 1)(torch.ones(2, 1, dtype=torch.long)).shape == (2,)


def test_unknown_names_list_the_allowed_ones() -> None:
    bad_series = series_cfg("gru").model_copy(update={"name": "transformer"})
    with pytest.raises(ConfigError, match="choose one of: dense, gru, lstm, conv1d, conv1d_gru"):
        build_series_model(bad_series, WINDOW, FEATURES)
    bad_text = text_cfg("gru").model_copy(update={"name": "transformer"})
    with pytest.raises(ConfigError, match="choose one of: flatten, conv1d, simple_rnn, gru, lstm"):
        build_text_model(bad_text, VOCAB, MAXLEN)


def test_ngram_bag_is_the_mean_of_its_bag_rows_without_padding() -> None:
    from seqlab.models.text import NgramBagClassifier

    model = NgramBagClassifier(rows=20, embed_dim=4, dropout=0.0).eval()
    ids, offsets = torch.tensor([3, 7, 7, 15, 2]), torch.tensor([0, 3])  # bags [3, 7, 7] and [15, 2]
    table, head = model.bag.weight.detach(), model.out
    want = head(torch.stack([table[[3, 7, 7]].mean(0), table[[15, 2]].mean(0)])).squeeze(-1)
    assert torch.allclose(model(ids, offsets), want)
    assert model.sparse_parameters() == [model.bag.weight]
    out = model(ids, offsets).sum()
    out.backward()
    grad = model.bag.weight.grad
    assert grad is not None and grad.is_sparse  # only the looked-up rows carry a gradient
    assert set(grad.coalesce().indices()[0].tolist()) == {2, 3, 7, 15}
    with pytest.raises(ConfigError, match="ngram_bag"):
        build_text_model(text_cfg("ngram_bag", embedding="glove"), VOCAB, MAXLEN, embedding_matrix=glove_like())
