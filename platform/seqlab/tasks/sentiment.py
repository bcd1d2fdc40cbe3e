"""Sentiment analysis of movie reviews: texts -> top-N word index -> padded ids -> one logit.

The word index (and so the vocabulary GloVe is aligned to) is fitted on the training split only, and
travels with the model as ``preprocessing``: ``{"word_index": ..., "maxlen": ...}``.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

import numpy as np
import torch
from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from torch import nn

from seqlab.config import SentimentConfig
from seqlab.data.glove import embedding_matrix, load_glove
from seqlab.data.reviews import load_reviews
from seqlab.data.text import WordIndex, tokenize
from seqlab.models.text import build_text_model
from seqlab.tasks.base import ArraySplit, BatchPredictor, Prepared, Task, finite, validate_request


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
    fingerprint_ignored = ("max_words", "maxlen", "train_samples", "glove_path")
    Request = SentimentRequest
    Response = SentimentResponse
    Options = SentimentOptions
    summary = "Probability that each review is positive"

    def prepare(self, cfg: SentimentConfig) -> Prepared:
        reviews = load_reviews(cfg.data)
        index = WordIndex.fit(reviews.train_texts, max_words=cfg.data.max_words)
        maxlen = cfg.data.maxlen

        def encode(texts: list[str], labels: np.ndarray) -> ArraySplit:
            return ArraySplit(index.to_padded(texts, maxlen), np.asarray(labels, dtype=np.float32))

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
            preprocessing={"word_index": index.to_dict(), "maxlen": maxlen},
            info=info,
            embedding_matrix=matrix,
        )

    def build_model(
        self, cfg: SentimentConfig, preprocessing: dict[str, Any], embedding_matrix: np.ndarray | None = None
    ) -> nn.Module:
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
        index = WordIndex.fit(reviews.train_texts, max_words=cfg.data.max_words)
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
        # GloVe alignment depends on these; validation needs embed_dim too
        return {**super().prepare_key(cfg),
                "model": {"embedding": cfg.model.embedding, "embed_dim": cfg.model.embed_dim}}

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
        return [probs_np[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]

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


def model_input(index: WordIndex, texts: list[str], preprocessing: dict[str, Any]) -> torch.Tensor | tuple[torch.Tensor, ...]:
    """Texts -> what the module takes: today, the last ``maxlen`` word ids of each text, zeros in front."""
    return torch.from_numpy(index.to_padded(texts, int(preprocessing["maxlen"])))
