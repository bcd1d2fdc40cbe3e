"""Sentiment analysis of movie reviews: texts -> top-N word index -> padded ids -> one logit.

The word index (and so the vocabulary GloVe is aligned to) is fitted on the training split only, and
travels with the model as ``preprocessing``: ``{"word_index": ..., "maxlen": ...}``, plus ``"bag"``
(``ngrams``, ``buckets``, ``binary``) for the ``ngram_bag`` model, which reads variable-length bags of word
and hashed n-gram ids instead of padded rows. :func:`model_input` is the one encoding of texts that training
(``prepare``) and prediction share.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from collections.abc import Sequence
from typing import Annotated, Any, Literal

import numpy as np
import torch
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator
from torch import nn

from seqlab.config import MAX_WEIGHTS_GIB, TaskConfig
from seqlab.data.bags import BagSplit, ngram_bags
from seqlab.data.glove import embedding_matrix, load_glove
from seqlab.data.reviews import ReviewsDataConfig, ReviewSplits, load_reviews
from seqlab.data.text import WordIndex, tokenize
from seqlab.errors import DataError
from seqlab.models.text import TextModelConfig, build_text_model
from seqlab.tasks.base import ArraySplit, BatchPredictor, Prepared, Task, finite, validate_request

# ------------------------------------------------------------------------------------------------ config


class SentimentConfig(TaskConfig):
    task: Literal["sentiment"]
    data: ReviewsDataConfig = ReviewsDataConfig()
    model: TextModelConfig = TextModelConfig()

    @model_validator(mode="after")
    def _sparse_needs_adam(self) -> SentimentConfig:
        if self.model.name == "ngram_bag" and self.train.optimizer != "adam":
            raise ValueError(
                f"model.name='ngram_bag' trains its n-gram table with sparse gradients, which only "
                f"train.optimizer='adam' updates (row by row); got train.optimizer='{self.train.optimizer}'"
            )
        return self

    @model_validator(mode="after")
    def _weights_fit(self) -> SentimentConfig:
        # each bound alone passes while a product asks for gigabytes: the embedding table (words, plus hashed
        # n-grams for ngram_bag) and the Flatten model's dense layer (maxlen x embed_dim inputs)
        d, m = self.data, self.model
        rows = d.max_words + (m.hash_buckets if m.name == "ngram_bag" else 0)
        largest = {f"embedding table ({rows:,} rows x model.embed_dim={m.embed_dim})": rows * m.embed_dim}
        if m.name == "flatten":
            largest[f"dense layer (data.maxlen={d.maxlen} x model.embed_dim={m.embed_dim} x model.hidden="
                    f"{m.hidden})"] = d.maxlen * m.embed_dim * m.hidden
        for what, count in largest.items():
            gib = count * 4 / 2**30
            if gib > MAX_WEIGHTS_GIB:
                raise ValueError(f"the {what} would hold {gib:.1f} GiB of float32 weights; at most "
                                 f"{MAX_WEIGHTS_GIB:.0f} GiB: lower data.max_words, model.embed_dim or the others")
        return self

    @model_validator(mode="after")
    def _glove_dim(self) -> SentimentConfig:
        if self.model.embedding == "glove" and self.data.glove_path is None and self.model.embed_dim != 50:
            raise ValueError(
                f"model.embed_dim must be 50 with model.embedding='glove' and the packaged GloVe vectors "
                f"(50-d), got {self.model.embed_dim}; set data.glove_path to a glove.6B.<d>d.txt for another d"
            )
        return self



# ------------------------------------------------------------------------------------------- HTTP models

# A text must hold a word: a letter or a digit (punctuation, control characters and zero-width spaces are
# not words, so "!!!", "\u0000" and "\u200b" carry nothing for the model to read). The same rule, as a JSON
# Schema pattern, is in the OpenAPI contract.
WORD_PATTERN = r"[^\W_]"
_WORD = re.compile(WORD_PATTERN)


def _has_word(text: str) -> str:
    if not _WORD.search(text):
        shown = text if len(text) <= 40 else text[:40] + "..."
        raise ValueError(f"no word in {shown!r}: a text needs at least one letter or digit")
    return text


class SentimentRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"texts": ["A wonderful, moving film."]}]}
    )

    texts: list[Annotated[str, AfterValidator(_has_word), Field(json_schema_extra={"pattern": WORD_PATTERN})]] = Field(
        min_length=1,
        description="reviews, one string each, each with at least one letter or digit; the per-request limit "
        "is in /info (limits.max_texts)",
    )


class SentimentPrediction(BaseModel):
    probability: float = Field(ge=0.0, le=1.0, description="probability that the text is positive")
    label: Literal["positive", "negative"]
    tokens: int = Field(ge=0, description="words in the text")
    truncated: bool = Field(
        description="the text had more words than the window; only the last `maxlen` were read"
    )


class SentimentResponse(BaseModel):
    model: str = Field(description="registered model name that answered")
    version: str = Field(description="its registry version")
    maxlen: int = Field(description="the model's window in words")
    predictions: list[SentimentPrediction] = Field(description="one per text, in request order")


class SentimentOptions(BaseModel):
    """What a running replica may change (``user_config.options``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    threshold: float = Field(default=0.5, gt=0.0, lt=1.0)  # p >= threshold is "positive"
    max_texts: int = Field(default=64, ge=1)  # texts per request


# ------------------------------------------------------------------------------------------------- task


class SentimentTask(Task):
    name = "sentiment"
    metric = "val_accuracy"
    mode = "max"
    config = SentimentConfig
    # what decides the validation reviews (and their ids): the source file, the split and its seed
    fingerprint_keys = ("source", "path", "val_fraction", "test_fraction", "val_samples", "seed")
    # the model's view of the same reviews, and the training subset: the validation reviews stay the same
    fingerprint_ignored = ("max_words", "maxlen", "train_samples", "glove_path",
                           # data.source: files: in data_content (the files' identity, columns, key, test files)
                           "format", "text_column", "label_column", "key_column", "test_path")
    Request = SentimentRequest
    Response = SentimentResponse
    Options = SentimentOptions
    summary = "Probability that each review is positive"

    def prepare(self, cfg: SentimentConfig) -> Prepared:
        reviews = load_reviews(cfg.data)
        index = _fit_index(reviews, cfg.data.max_words)
        preprocessing: dict[str, Any] = {"word_index": index.to_dict(), "maxlen": cfg.data.maxlen}
        if cfg.model.name == "ngram_bag":
            preprocessing["bag"] = {"ngrams": cfg.model.ngrams, "buckets": cfg.model.hash_buckets,
                                    "binary": cfg.model.binary_bag}

        def encode(texts: list[str], labels: np.ndarray) -> ArraySplit | BagSplit:
            # the very encoding the predictor uses, computed once here for every review (not at every step)
            x, y = model_input(index, texts, preprocessing), np.asarray(labels, dtype=np.float32)
            if isinstance(x, tuple):
                ids, offsets = x
                return BagSplit(ids.numpy(), np.append(offsets.numpy(), len(ids)), y)
            return ArraySplit(x.numpy(), y)

        info: dict[str, Any] = {"data.origin": reviews.source, **{f"data.{k}": v for k, v in reviews.describe().items()}}
        matrix = None
        if cfg.model.embedding == "glove":
            glove = load_glove(cfg.data.glove_path)
            matrix, coverage = embedding_matrix(index, glove)
            info["data.glove_coverage"] = round(float(coverage), 4)
            info["data.glove_source"] = glove.source
        return Prepared(
            train=encode(reviews.train_texts, reviews.train_labels),
            val=encode(reviews.val_texts, reviews.val_labels),
            test=encode(reviews.test_texts, reviews.test_labels),
            preprocessing=preprocessing,
            info=info,
            embedding_matrix=matrix,
        )

    def build_model(
        self, cfg: SentimentConfig, preprocessing: dict[str, Any], embedding_matrix: np.ndarray | None = None
    ) -> nn.Module:
        if cfg.model.name == "ngram_bag" and "bag" not in preprocessing:
            raise DataError(
                "this ngram_bag model's preprocessing has no 'bag' settings (it was saved before bags were "
                "encoded once, at prepare time); retrain it with this seqlab"
            )
        vocab = int(preprocessing["word_index"]["max_words"])
        return build_text_model(cfg.model, vocab_size=vocab, maxlen=int(preprocessing["maxlen"]),
                                embedding_matrix=embedding_matrix)

    def loss(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return nn.functional.binary_cross_entropy_with_logits(out, y)

    def metric_sums(self, out: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
        loss = nn.functional.binary_cross_entropy_with_logits(out, y, reduction="sum")
        correct = ((out > 0).to(y.dtype) == y).sum()
        return {"loss": float(loss), "correct": float(correct)}

    def finish_metrics(self, sums: dict[str, float], count: int, preprocessing: dict[str, Any]) -> dict[str, float]:
        n = max(count, 1)
        return {"loss": sums["loss"] / n, "accuracy": sums["correct"] / n}

    def describe(self, cfg: SentimentConfig) -> dict[str, Any]:
        reviews = load_reviews(cfg.data)
        index = _fit_index(reviews, cfg.data.max_words)
        glove = load_glove(cfg.data.glove_path)
        _, coverage = embedding_matrix(index, glove)
        lengths = [len(t.split()) for t in reviews.train_texts]
        return {
            "origin": reviews.source,
            **reviews.describe(),
            "words_per_review_median": int(sorted(lengths)[len(lengths) // 2]),
            "word_index": f"top {cfg.data.max_words} words of the training split (0 = padding, 1 = out of vocabulary)",
            "glove": f"{glove.source} ({len(glove.words)} words x {glove.dim} d)",
            "glove_coverage": f"{coverage:.1%} of the indexed words have a vector",
        }

    def prepare_key(self, cfg: SentimentConfig) -> dict[str, Any]:
        # GloVe alignment depends on these; validation needs embed_dim too; a bag model's data is its bags.
        # The key stays a valid config (tune checks it), so the bag settings sit under their own names.
        model: dict[str, Any] = {"embedding": cfg.model.embedding, "embed_dim": cfg.model.embed_dim}
        if cfg.model.name == "ngram_bag":
            model.update(name="ngram_bag", ngrams=cfg.model.ngrams, hash_buckets=cfg.model.hash_buckets,
                         binary_bag=cfg.model.binary_bag)
        return {**super().prepare_key(cfg), "model": model}

    def data_content(self, cfg: SentimentConfig) -> str | None:
        """Sharded files are named by their identity (names, sizes, mtimes) and how rows become reviews;
        the single-file sources by their bytes."""
        if cfg.data.source != "files":
            return super().data_content(cfg)
        from seqlab.data.shards import list_shards

        d = cfg.data
        assert d.path is not None  # the config requires it for data.source: files
        parts = [list_shards(d.path, d.format).identity(), d.text_column, d.label_column, str(d.key_column),
                 list_shards(d.test_path, d.format).identity() if d.test_path else ""]
        return hashlib.sha256("\0".join(parts).encode()).hexdigest()

    def score_models(self, cfg: SentimentConfig,
                     models: Sequence[tuple[nn.Module, dict[str, Any]]]) -> tuple[list[float], int]:
        """Accuracy of each model on the validation reviews of ``cfg``, each through its own word index,
        window and bag settings (any text model reads any review, so this never refuses)."""
        reviews = load_reviews(cfg.data)
        texts, truth = reviews.val_texts, np.asarray(reviews.val_labels) > 0.5
        values = []
        for module, preprocessing in models:
            index = WordIndex.from_dict(preprocessing["word_index"])
            module.eval()
            correct = 0
            for start in range(0, len(texts), 512):
                x = model_input(index, texts[start:start + 512], preprocessing)
                with torch.inference_mode():
                    logits = module(*x) if isinstance(x, tuple) else module(x)
                # a positive logit is "positive", as the training's accuracy counts it
                correct += int(((logits.reshape(-1) > 0).numpy() == truth[start:start + 512]).sum())
            values.append(correct / max(len(texts), 1))
        return values, len(texts)

    def predictor(self, module: nn.Module, preprocessing: dict[str, Any]) -> SentimentPredictor:
        return SentimentPredictor(module, preprocessing)

    def too_large(self, request: SentimentRequest, options: SentimentOptions) -> str | None:
        if len(request.texts) > options.max_texts:
            return f"texts: {len(request.texts)} texts sent; at most {options.max_texts} per request"
        return None

    def pyfunc_request(self, model_input: Any) -> SentimentRequest:
        """A list of texts, a Series, or a DataFrame with a ``text`` column (or one column of strings)."""
        raw = model_input
        if hasattr(raw, "columns"):
            raw = raw["text"] if "text" in raw.columns else raw.iloc[:, 0]
        if hasattr(raw, "tolist"):
            raw = raw.tolist()
        if isinstance(raw, str):
            raw = [raw]
        return validate_request(SentimentRequest, {"texts": raw}, "sentiment input")

    def pyfunc_rows(self, answer: dict[str, Any]) -> list[dict[str, Any]]:
        return list(answer["predictions"])


class SentimentPredictor(BatchPredictor[SentimentRequest, SentimentOptions]):
    """Every text of every request in one forward pass; answers split back per request."""

    def __init__(self, module: nn.Module, preprocessing: dict[str, Any]) -> None:
        super().__init__(module, preprocessing)
        self.index = WordIndex.from_dict(preprocessing["word_index"])
        self.maxlen = int(preprocessing["maxlen"])

    def encode(self, request: SentimentRequest, options: SentimentOptions) -> list[str]:
        return request.texts

    def forward(self, encoded: list[list[str]]) -> list[np.ndarray]:
        flat = [text for texts in encoded for text in texts]
        x = model_input(self.index, flat, self.preprocessing)
        probs = torch.sigmoid(self.module(*x) if isinstance(x, tuple) else self.module(x)).reshape(-1)
        probs_np = probs.cpu().numpy().astype(np.float64)
        bounds = np.cumsum([0, *(len(texts) for texts in encoded)])
        return [probs_np[a:b] for a, b in itertools.pairwise(bounds)]

    def decode(self, request: SentimentRequest, output: np.ndarray, options: SentimentOptions) -> dict[str, Any]:
        predictions = []
        for i, (text, p) in enumerate(zip(request.texts, output, strict=True)):
            prob = finite(p, f"texts[{i}]")
            n_tokens = len(tokenize(text))
            predictions.append({
                "probability": prob,
                "label": "positive" if prob >= options.threshold else "negative",
                "tokens": n_tokens,
                "truncated": n_tokens > self.maxlen,
            })
        return {"maxlen": self.maxlen, "predictions": predictions}

    def info(self, options: SentimentOptions) -> dict[str, Any]:
        return {"window": {"maxlen": self.maxlen}, "features": ["text"],
                "limits": {"max_texts": options.max_texts}, "options": options.model_dump()}


def _fit_index(reviews: ReviewSplits, max_words: int) -> WordIndex:
    """The word index of the training split: from the counts Ray Data took per batch where there are some
    (sharded files), else by reading the gathered texts."""
    if reviews.word_counts is not None:
        return WordIndex.from_counts(reviews.word_counts, max_words=max_words)
    return WordIndex.fit(reviews.train_texts, max_words=max_words)


def _bag_arrays(index: WordIndex, texts: list[str], preprocessing: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Word and hashed n-gram ids of every text back to back, and each text's count (no padding)."""
    bag = preprocessing["bag"]
    flat, lengths = index.to_flat(texts, int(preprocessing["maxlen"]))
    return ngram_bags(flat, lengths, int(bag["ngrams"]), int(bag["buckets"]), index.max_words, bool(bag["binary"]))


def model_input(
    index: WordIndex, texts: list[str], preprocessing: dict[str, Any]
) -> torch.Tensor | tuple[torch.Tensor, ...]:
    """The model's input for ``texts``, encoded exactly as at training time (``prepare`` uses the same code).

    Args:
        index: the word index fitted on the training split (``WordIndex.from_dict(preprocessing["word_index"])``).
        texts: raw review texts.
        preprocessing: saved with the model: ``maxlen`` and, for bag models, ``bag`` (ngrams, buckets, binary).

    Returns:
        ``(ids, offsets)`` for a bag model (call ``module(*x)``), else int64 ``(len(texts), maxlen)`` ids.
    """
    if "bag" in preprocessing:
        ids, lengths = _bag_arrays(index, texts, preprocessing)
        offsets = np.cumsum(lengths) - lengths
        return torch.from_numpy(ids), torch.from_numpy(offsets)
    return torch.from_numpy(index.to_padded(texts, int(preprocessing["maxlen"])))
