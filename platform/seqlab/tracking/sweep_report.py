"""The sweep summary on the parent MLflow run: a trial table, the metric against each swept parameter, and
the chapter's comparison of pretrained vs learned embeddings at 200 samples and with the full training set.
"""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from seqlab.tracking import runs as tracking


def trials_frame(trials: list[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame(trials)


def embedding_comparison(frame: pd.DataFrame, metric: str) -> pd.DataFrame | None:
    """Best metric per (training-set size, embedding kind) when both were swept; None otherwise."""
    emb, size, col = "param.model.embedding", "param.data.train_samples", f"best_{metric}"
    if emb not in frame or col not in frame:
        return None
    data = frame[frame["status"].isin(["finished", "stopped early"])].copy()
    if data.empty:
        return None
    data["train size"] = data[size].map(lambda v: "full" if v is None or (isinstance(v, float) and math.isnan(v))
                                        else str(int(v))) if size in data else "full"
    return data.pivot_table(index="train size", columns=emb, values=col, aggfunc="max")


def write_summary(uri: str, run_id: str, trials: list[dict[str, Any]], metric: str, keys: list[str],
                  best: dict[str, Any] | None, promotion: Any | None, scheduler: str) -> None:
    """Log ``summary/trials.csv``, ``summary/<metric>_vs_<param>.png``, the embedding comparison and the best
    trial (as tags) to the sweep's parent run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from mlflow.entities import RunTag

    frame = trials_frame(trials)
    c = tracking.client(uri)
    col = f"best_{metric}"
    with tempfile.TemporaryDirectory() as tmp:
        table = Path(tmp) / "trials.csv"
        frame.to_csv(table, index=False)
        c.log_artifact(run_id, str(table), "summary")
        comparison = embedding_comparison(frame, metric)
        if comparison is not None:
            path = Path(tmp) / "embedding_comparison.csv"
            comparison.to_csv(path)
            c.log_artifact(run_id, str(path), "summary")
            fig, ax = plt.subplots(figsize=(6, 4))
            comparison.plot.bar(ax=ax, rot=0)
            ax.set_ylabel(col)
            ax.set_title("Pretrained (GloVe) vs learned embedding")
            c.log_figure(run_id, fig, "summary/embedding_comparison.png")
            plt.close(fig)
    if col in frame:
        scored = frame[frame[col].notna()]
        for key in keys:
            name = f"param.{key}"
            if name not in scored or scored.empty:
                continue
            fig, ax = plt.subplots(figsize=(6, 4))
            values = scored[name]
            if pd.api.types.is_numeric_dtype(values) and values.nunique() > 1 and values.dtype != bool:
                ax.scatter(values, scored[col])
                if values.min() > 0 and values.max() / values.min() > 50:
                    ax.set_xscale("log")
            else:
                labels = values.map(str)  # None/NaN (e.g. train_samples: null = full set) -> "None"/"nan"
                cats = sorted(labels.unique())
                ax.scatter([cats.index(v) for v in labels], scored[col])
                ax.set_xticks(range(len(cats)), cats)
            ax.set_xlabel(key)
            ax.set_ylabel(col)
            ax.set_title(f"{col} by {key} ({scheduler})")
            c.log_figure(run_id, fig, f"summary/{metric}_vs_{key.replace('.', '_')}.png")
            plt.close(fig)
    tags = {"seqlab.scheduler": scheduler, "seqlab.trials": str(len(trials))}
    if best is not None:
        tags.update({"seqlab.best_trial": str(best["trial"]), "seqlab.best_run_id": str(best.get("mlflow_run_id")),
                     "seqlab.best_value": repr(best[col]),
                     "seqlab.best_params": json.dumps({k: v for k, v in best.items() if k.startswith("param.")},
                                                      default=str)})
    if promotion is not None:
        tags.update({"seqlab.promotion": promotion.line(),
                     "seqlab.registered_version": str(promotion.version)})
    c.log_batch(run_id, tags=[RunTag(k, v[:5000]) for k, v in tags.items()])
