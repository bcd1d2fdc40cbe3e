"""Sentiment analysis of movie reviews: texts -> top-N word index -> padded ids -> one logit.

The word index (and so the vocabulary GloVe is aligned to) is fitted on the training split only, and
travels with the model as ``preprocessing``: ``{"word_index": ..., "maxlen": ...}``, plus ``"bag"``
(``ngrams``, ``buckets``, ``binary``) for the ``ngram_bag`` model, which reads variable-length bags of word
and hashed n-gram ids instead of padded rows. :func:`model_input` is the one encoding of texts that training
(``prepare``) and prediction share.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from seqlab.config import SentimentConfig
from seqlab.data.bags import BagSplit, ngram_bags
from seqlab.data.glove import embedding_matrix, load_glove
from seqlab.data.reviews import load_reviews
from seqlab.data.text import WordIndex, tokenize
from seqlab.errors import DataError
from seqlab.models.text import build_text_model
from seqlab.tasks.base import ArraySplit, Prepared, Task


class SentimentTask(Task):
    name = "sentiment"
    metric = "val_accuracy"
    mode = "max"

    def prepare(self, cfg: SentimentConfig) -> Prepared:
        reviews = load_reviews(cfg.data)
        index = WordIndex.fit(reviews.train_texts, max_words=cfg.data.max_words)
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

    def predictor(self, module: nn.Module, preprocessing: dict[str, Any]) -> Callable[[Any], list[dict[str, Any]]]:
        index = WordIndex.from_dict(preprocessing["word_index"])
        maxlen = int(preprocessing["maxlen"])
        module.eval()

        def predict(raw: Any) -> list[dict[str, Any]]:
            texts = _as_texts(raw)
            x = model_input(index, texts, preprocessing)
            with torch.inference_mode():
                out = module(*x) if isinstance(x, tuple) else module(x)
                probs = torch.sigmoid(out).cpu().numpy()
            answers = []
            for text, p in zip(texts, probs):
                n_tokens = len(tokenize(text))
                answers.append({
                    "probability": float(p),
                    "label": "positive" if p >= 0.5 else "negative",
                    "tokens": n_tokens,
                    "truncated": n_tokens > maxlen,
                })
            return answers

        return predict


def _as_texts(raw: Any) -> list[str]:
    """Accept a list of strings, a pandas Series, or a DataFrame with a ``text`` column."""
    if hasattr(raw, "columns"):
        if "text" not in raw.columns:
            raise DataError(f"sentiment input needs a 'text' column; got columns {list(raw.columns)}")
        raw = raw["text"].tolist()
    elif hasattr(raw, "tolist"):
        raw = raw.tolist()
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list) or not raw:
        raise DataError("sentiment input must be a non-empty list of texts")
    for i, text in enumerate(raw):
        if not isinstance(text, str):
            raise DataError(f"texts[{i}] must be a string, got {type(text).__name__}")
        if not text.strip():
            raise DataError(f"texts[{i}] is empty or whitespace-only; give the review's text")
    return list(raw)


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
