"""``seqlab data describe``: what the default data sets are, before anything trains on them.

For reviews: origin, rows, splits, class balance, the word index and its GloVe coverage. For weather: origin,
rows, gaps filled, feature statistics (train rows), splits, and the common-sense baseline MAE to beat.
"""

from __future__ import annotations

from typing import Any

from seqlab.config import ForecastConfig, SentimentConfig, load_config


def describe_reviews(cfg: SentimentConfig) -> dict[str, Any]:
    from seqlab.data.glove import embedding_matrix, load_glove
    from seqlab.data.reviews import load_reviews
    from seqlab.data.text import WordIndex

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


def describe_weather(cfg: ForecastConfig) -> dict[str, Any]:
    from seqlab.data.weather import describe_series, prepare_series

    s = prepare_series(cfg.data)
    frame = s.series.frame
    train_end, val_end = s.bounds
    stats = frame.iloc[:train_end].describe().T[["mean", "std", "min", "max"]].round(2)
    unit = s.series.unit or "target units"
    return {
        "origin": s.series.source,
        "rows": len(frame),
        "span": f"{frame.index[0]} .. {frame.index[-1]}",
        "gaps_filled": s.series.gaps_filled,
        "cleaning": describe_series(s.series),
        "target": f"{s.target} ({unit})",
        "splits": f"train rows 0..{train_end - 1}, val {train_end}..{val_end - 1}, test {val_end}..{len(frame) - 1}",
        "windows": f"lookback {cfg.data.lookback}, step {cfg.data.step}, delay {cfg.data.delay}: "
                   f"train {len(s.train)}, val {len(s.val)}, test {len(s.test)}",
        "features (train rows)": {name: dict(row) for name, row in stats.iterrows()},
        "common-sense baseline MAE (val)": f"{s.baseline_mae_norm:.4f} normalized = {s.baseline_mae_degrees:.2f} {unit}",
        "common-sense baseline MAE (test)": f"{s.test_baseline_mae_norm:.4f} normalized = "
                                            f"{s.test_baseline_mae_degrees:.2f} {unit}",
    }


def describe_all(sentiment_config: str | None = None, forecast_config: str | None = None) -> dict[str, Any]:
    """Describe the packaged defaults (or the data of the given configs)."""
    sentiment = load_config(sentiment_config) if sentiment_config else load_config(None, {"task": "sentiment"})
    forecast = load_config(forecast_config) if forecast_config else load_config(None, {"task": "forecast"})
    assert isinstance(sentiment, SentimentConfig) and isinstance(forecast, ForecastConfig)
    return {"reviews": describe_reviews(sentiment), "weather": describe_weather(forecast)}
