"""The chapter's text classifiers (IMDB reviews: positive or negative), as plain ``nn.Module`` s (no I/O here).

Every model reads int64 token ids of shape ``(B, maxlen)`` (0 = padding, 1 = out-of-vocabulary) and
returns one float logit per review, shape ``(B,)``; train it with ``BCEWithLogitsLoss`` and read
``sigmoid(logit)`` as P(positive). Sequences are padded "pre" (zeros first, like Keras'
``pad_sequences``), so the last time step is the real end of a review. The exception is ``ngram_bag``,
which reads variable-length bags without padding: ``model(ids, offsets)`` (see ``seqlab.data.bags``).

    cfg = TextModelConfig(name="gru", embed_dim=8, hidden=8)
    model = build_text_model(cfg, vocab_size=100, maxlen=20)
    logits = model(torch.randint(0, 100, (4, 20)))  # (4,)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, cast

import numpy as np
import torch
from pydantic import Field, model_validator
from torch import nn

from seqlab.config import MAX_EMBED_DIM, MAX_FILTERS, MAX_HIDDEN, MAX_KERNEL, StrictModel
from seqlab.errors import ConfigError

TEXT_MODELS = ("flatten", "conv1d", "simple_rnn", "gru", "lstm", "ngram_bag")
MAX_HASH_BUCKETS = 2**24


class TextModelConfig(StrictModel):
    """The chapter's text models; ``name`` picks one, the rest are its sizes."""

    name: Literal["flatten", "conv1d", "simple_rnn", "gru", "lstm", "ngram_bag"] = "conv1d"
    embedding: Literal["learned", "glove"] = "learned"
    embed_dim: int = Field(32, ge=1, le=MAX_EMBED_DIM)  # must equal the GloVe dimension when embedding is 'glove'
    freeze_embedding: bool = False  # the chapter freezes pretrained vectors
    # Upper bounds catch a typo (an extra zero or two) before it asks for gigabytes: a GRU layer of 4096 units
    # already holds ~100M weights; 2^24 hashed n-gram rows of embed_dim 32 take 2 GiB plus Adam's 4 GiB.
    hidden: int = Field(32, ge=1, le=MAX_HIDDEN)  # recurrent units, or the dense layer after Flatten
    layers: int = Field(1, ge=1, le=4)
    bidirectional: bool = False
    dropout: float = Field(0.0, ge=0.0, lt=1.0)
    conv_filters: int = Field(32, ge=1, le=MAX_FILTERS)
    conv_kernel: int = Field(7, ge=1, le=MAX_KERNEL)
    pool: int = Field(5, ge=1, le=MAX_KERNEL)
    ngrams: int = Field(2, ge=1, le=3)  # ngram_bag: words plus hashed 2-grams (and 3-grams)
    hash_buckets: int = Field(2**18, ge=1, le=MAX_HASH_BUCKETS)  # ngram_bag: rows for hashed n-grams (hashing trick)
    binary_bag: bool = False  # ngram_bag: each word / n-gram counts once per review (a set, not a multiset)

    @model_validator(mode="after")
    def _freeze_needs_pretrained(self) -> TextModelConfig:
        if self.freeze_embedding and self.embedding != "glove":
            raise ValueError("model.freeze_embedding=true needs model.embedding='glove' (a learned embedding must train)")
        return self


def build_embedding(
    cfg: TextModelConfig, vocab_size: int, embedding_matrix: np.ndarray | None, train_padding: bool = False
) -> nn.Embedding:
    """The shared first layer: ``vocab_size`` vectors of ``cfg.embed_dim``, row 0 is padding.

    Args:
        cfg: the model config (``embed_dim``, ``freeze_embedding``).
        vocab_size: rows of the table (``data.max_words``: index 0 = padding, 1 = OOV).
        embedding_matrix: pretrained vectors (e.g. GloVe), shape ``(vocab_size, embed_dim)``, copied
            as-is; None draws random vectors (also the serve path, where a checkpoint fills them).
        train_padding: row 0 is a vector like any other, drawn at random (unless the matrix gives it) and
            trained, as in Keras' ``Embedding`` without ``mask_zero``; False keeps it at zero, untrained.

    Returns:
        The embedding, frozen (``requires_grad=False``) when ``cfg.freeze_embedding``.

    Raises:
        ConfigError: if the matrix shape does not match ``(vocab_size, embed_dim)``.
    """
    if vocab_size < 2:
        raise ConfigError(f"vocab_size must be >= 2 (padding + at least one word), got {vocab_size}")
    emb = nn.Embedding(vocab_size, cfg.embed_dim, padding_idx=None if train_padding else 0)
    # Keras' uniform(-0.05, 0.05) instead of PyTorch's N(0, 1): with N(0, 1) the chapter's Flatten model reached
    # 0.67 validation accuracy after 5 epochs, with the small init 0.76 (the book's figure).
    with torch.no_grad():
        emb.weight.uniform_(-0.05, 0.05)
        if not train_padding:
            emb.weight[0].zero_()
    if embedding_matrix is not None:
        expected = (vocab_size, cfg.embed_dim)
        if tuple(embedding_matrix.shape) != expected:
            raise ConfigError(
                f"embedding_matrix has shape {tuple(embedding_matrix.shape)} but the model needs "
                f"(vocab_size, model.embed_dim) = {expected}; set model.embed_dim to the vector size "
                f"and build the matrix for data.max_words rows"
            )
        with torch.no_grad():
            emb.weight.copy_(torch.as_tensor(embedding_matrix, dtype=torch.float32))
    # Without train_padding, padding_idx keeps row 0's gradient at zero: padding stays what the matrix says.
    emb.weight.requires_grad_(not cfg.freeze_embedding)
    return emb


class FlattenClassifier(nn.Module):
    """Embedding -> Flatten -> [Linear(hidden) -> ReLU] -> Dropout -> Linear(1).

    The book's first IMDB model (maxlen 20, ``Embedding(10000, 8) -> Flatten -> Dense(1)``) is
    ``layers=1``; its GloVe model adds ``Dense(32, relu)`` before the output: ``layers>=2`` with
    ``hidden=32``. Only one hidden layer is ever added, whatever ``layers`` says beyond 2.
    """

    def __init__(
        self, embedding: nn.Embedding, maxlen: int, hidden: int, use_hidden: bool, dropout: float
    ) -> None:
        super().__init__()
        self.embedding = embedding
        width = maxlen * embedding.embedding_dim
        layers: list[nn.Module] = [nn.Flatten()]
        if use_hidden:
            layers += [nn.Linear(width, hidden), nn.ReLU()]
            width = hidden
        layers += [nn.Dropout(dropout), nn.Linear(width, 1)]
        self.head = nn.Sequential(*layers)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.head(self.embedding(tokens))
        return out.squeeze(-1)


class ConvClassifier(nn.Module):
    """Embedding -> Conv1d ReLU -> MaxPool -> Conv1d ReLU -> global max pool -> Dropout -> Linear(1)."""

    def __init__(self, embedding: nn.Embedding, filters: int, kernel: int, pool: int, dropout: float) -> None:
        super().__init__()
        self.embedding = embedding
        self.features = nn.Sequential(
            nn.Conv1d(embedding.embedding_dim, filters, kernel),
            nn.ReLU(),
            nn.MaxPool1d(pool),
            nn.Conv1d(filters, filters, kernel),
            nn.ReLU(),
        )
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(filters, 1))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.embedding(tokens).transpose(1, 2)  # Conv1d wants (B, channels, time)
        x = self.features(x).amax(dim=2)  # global max pool over time
        out: torch.Tensor = self.head(x)
        return out.squeeze(-1)


def keras_init(rnn: nn.Module, head: nn.Linear, kind: str) -> None:
    """Start a recurrent classifier where the chapter's Keras layers start, not where PyTorch's do.

    PyTorch draws every recurrent weight and both biases from uniform(-1/sqrt(H), 1/sqrt(H)); Keras' LSTM and
    GRU draw the input weights glorot-uniform, make the recurrent weights orthogonal, set the biases to zero
    and, for an LSTM, the forget gate's bias to 1 (its ``unit_forget_bias``). With a forget gate that starts
    half shut (a bias near 0: sigmoid 0.5) the cell keeps about half of its memory per word at the start, so
    a 500-word review's beginning is lost; a bias of 1 keeps about 73% per word from the first step. The
    output layer is glorot-uniform with a zero bias, like Keras' ``Dense``.

    PyTorch's LSTM and RNN also add two biases (``bias_ih + bias_hh``) where Keras' have one: both train, so
    the sum moves twice as fast as a single bias under RMSprop or Adam (each bias's step is normalized on its
    own). ``bias_hh`` is kept at zero, untrained, so the layer has Keras' one bias. The GRU keeps both:
    Keras' GRU (``reset_after``) has a recurrent bias too, inside the reset gate's product.

    Args:
        rnn: an ``nn.RNN``, ``nn.GRU`` or ``nn.LSTM`` (any layers and directions).
        head: the output layer.
        kind: ``simple_rnn``, ``gru`` or ``lstm`` (``nn.LSTM`` orders its gates input, forget, cell, output).
    """
    with torch.no_grad():
        for name, param in rnn.named_parameters():
            if name.startswith("weight_ih"):
                nn.init.xavier_uniform_(param)  # Keras' glorot_uniform over (input, gates x hidden)
            elif name.startswith("weight_hh"):
                # (gates x H, H) with orthonormal columns: the transpose of Keras' orthogonal (H, gates x H)
                nn.init.orthogonal_(param)
            elif name.startswith("bias"):
                param.zero_()
                if kind == "lstm" and name.startswith("bias_ih"):  # the forget gate's unit bias
                    hidden = param.shape[0] // 4
                    param[hidden : 2 * hidden] = 1.0
                if kind != "gru" and name.startswith("bias_hh"):
                    param.requires_grad_(False)  # one bias, as in Keras: bias_ih alone trains
        nn.init.xavier_uniform_(head.weight)
        head.bias.zero_()


_RNN_TYPES: dict[str, Callable[..., nn.Module]] = {"simple_rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}


class RecurrentClassifier(nn.Module):
    """Embedding -> RNN/GRU/LSTM -> last state -> Dropout -> Linear(1).

    The last state is ``h_n`` of the top layer; bidirectional concatenates the forward state (after
    the last step) and the backward state (after the first step), like Keras' ``Bidirectional``.
    """

    def __init__(
        self,
        embedding: nn.Embedding,
        kind: str,
        hidden: int,
        layers: int,
        bidirectional: bool,
        dropout: float,
    ) -> None:
        super().__init__()
        self.embedding = embedding
        # nn.RNN's dropout acts between stacked layers only; with one layer it would only warn.
        self.rnn = _RNN_TYPES[kind](
            embedding.embedding_dim,
            hidden,
            num_layers=layers,
            batch_first=True,
            bidirectional=bidirectional,
            dropout=dropout if layers > 1 else 0.0,
        )
        self.directions = 2 if bidirectional else 1
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(hidden * self.directions, 1))
        keras_init(self.rnn, cast(nn.Linear, self.head[1]), kind)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        _, h_n = self.rnn(self.embedding(tokens))
        if isinstance(h_n, tuple):  # LSTM returns (h_n, c_n)
            h_n = h_n[0]
        last = torch.cat(list(h_n[-self.directions :]), dim=1)  # top layer, every direction: (B, H*dirs)
        out: torch.Tensor = self.head(last)
        return out.squeeze(-1)


class NgramBagClassifier(nn.Module):
    """The chapter's bag-of-n-grams, learned end to end (fastText-like): mean of the bag's vectors -> one logit.

    It reads variable-length bags, ``forward(ids, offsets)`` as ``nn.EmbeddingBag`` does: ``ids`` holds the
    word and hashed n-gram ids of a batch's reviews back to back, ``offsets`` where each review starts
    (``seqlab.data.bags`` makes them once, when the data is prepared). No padding is looked up or averaged.

    With ``sparse=True`` the table's gradient is sparse: a step touches only the rows of the batch's ids, and
    ``sparse_parameters()`` names the table so the trainer gives it an optimizer that updates those rows only.
    """

    def __init__(self, rows: int, embed_dim: int, dropout: float, sparse: bool = True) -> None:
        super().__init__()
        self.bag = nn.EmbeddingBag(rows, embed_dim, mode="mean", sparse=sparse)
        with torch.no_grad():  # small vectors: the mean of a long review starts near 0, the logit near 0.5
            self.bag.weight.uniform_(-0.05, 0.05)
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(embed_dim, 1)

    def sparse_parameters(self) -> list[nn.Parameter]:
        """The parameters whose gradients are sparse (the n-gram table when ``sparse``)."""
        # the table's weight is an nn.Parameter; torch's annotations type it Tensor
        return [self.bag.weight] if self.bag.sparse else []  # type: ignore[list-item]

    def forward(self, ids: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.out(self.drop(self.bag(ids, offsets)))
        return out.squeeze(-1)


def build_text_model(
    cfg: TextModelConfig, vocab_size: int, maxlen: int, embedding_matrix: np.ndarray | None = None
) -> nn.Module:
    """Build the text model that ``cfg.name`` names.

    Args:
        cfg: ``name`` is one of flatten, conv1d, simple_rnn, gru, lstm, ngram_bag; the other fields size it.
            ``dropout`` acts before the output layer (and between stacked recurrent layers).
        vocab_size: rows of the embedding (``data.max_words``).
        maxlen: tokens per review; fixes the Flatten width and must be long enough for conv1d.
        embedding_matrix: optional ``(vocab_size, embed_dim)`` initial vectors (GloVe).

    Returns:
        A module mapping int64 ``(B, maxlen)`` token ids to float logits ``(B,)``; for ngram_bag, bags
        ``(ids, offsets)`` over ``vocab_size`` word rows plus ``cfg.hash_buckets`` n-gram rows.

    Raises:
        ConfigError: unknown name, a matrix of the wrong shape, or ``maxlen`` too short for conv1d.
    """
    if maxlen < 1:
        raise ConfigError(f"maxlen must be >= 1, got {maxlen} (data.maxlen)")
    if cfg.name not in ("flatten", "conv1d", *_RNN_TYPES, "ngram_bag"):
        allowed = ", ".join(("flatten", "conv1d", *_RNN_TYPES, "ngram_bag"))
        raise ConfigError(f"unknown model.name {cfg.name!r} for a text model; choose one of: {allowed}")
    if cfg.name == "conv1d":
        # conv (k) -> pool (p) -> conv (k) needs floor((maxlen - k + 1) / p) >= k.
        min_len = cfg.conv_kernel * cfg.pool + cfg.conv_kernel - 1
        if maxlen < min_len:
            raise ConfigError(
                f"data.maxlen={maxlen} is too short for model.name='conv1d' with model.conv_kernel="
                f"{cfg.conv_kernel} and model.pool={cfg.pool}: the minimum maxlen is {min_len}; "
                f"raise data.maxlen or lower model.conv_kernel / model.pool"
            )
    if cfg.name == "ngram_bag":
        if cfg.embedding == "glove":
            raise ConfigError("model.name='ngram_bag' learns its own n-gram vectors; use model.embedding='learned'")
        return NgramBagClassifier(vocab_size + cfg.hash_buckets * (cfg.ngrams > 1), cfg.embed_dim, cfg.dropout)
    # A recurrent model reads the padding in front of a short review before its first word: a trained padding
    # vector lets it choose the state it starts the review from (Keras' chapter model does the same; on its
    # LSTM, docs/chapter.md). Pretrained vectors keep their zero padding row, untrained.
    train_padding = cfg.name in _RNN_TYPES and cfg.embedding == "learned"
    emb = build_embedding(cfg, vocab_size, embedding_matrix, train_padding=train_padding)
    if cfg.name == "flatten":
        return FlattenClassifier(emb, maxlen, cfg.hidden, use_hidden=cfg.layers >= 2, dropout=cfg.dropout)
    if cfg.name == "conv1d":
        return ConvClassifier(emb, cfg.conv_filters, cfg.conv_kernel, cfg.pool, cfg.dropout)
    return RecurrentClassifier(emb, cfg.name, cfg.hidden, cfg.layers, cfg.bidirectional, cfg.dropout)
