"""The chapter's findings drawn from a sweep's trials: pretrained vs learned embeddings, width and window.

Pure parts (tested without MLflow): :func:`learning_curves` and :func:`crossover` (where the learned
embedding overtakes a pretrained one), :func:`accuracy_grid` and :func:`best_cell` (a metric over two
swept keys). The ``draw_*`` functions write a PNG with matplotlib (Agg). ``scripts/plot_sweeps.py`` reads
the trials from MLflow (``seqlab.tracking.sweep_trials``) and calls these.
"""

from __future__ import annotations

import ast
import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from seqlab.errors import TrackingError
from seqlab.tracking.sweep_trials import Trial

LEARNED = "learned"
GLOVE_FROZEN = "GloVe (frozen)"
GLOVE_TUNED = "GloVe (fine-tuned)"
Curve = list[tuple[int, float]]  # (training reviews, metric), sizes ascending


def _param(trial: Trial, key: str) -> str:
    if key not in trial.params:
        raise TrackingError(f"trial run {trial.name} ({trial.run_id}) has no param {key!r}; was it logged by a "
                            f"seqlab sweep over {key}? params: {sorted(trial.params)[:12]}...")
    return trial.params[key]


def embedding_kind(trial: Trial) -> str:
    """``learned``, ``GloVe (frozen)`` or ``GloVe (fine-tuned)``, from the trial's ``model.*`` params."""
    if _param(trial, "model.embedding") == "learned":
        return LEARNED
    return GLOVE_FROZEN if _param(trial, "model.freeze_embedding") == "True" else GLOVE_TUNED


def split_count(trial: Trial, split: str) -> int | None:
    """How many reviews the trial's ``split`` (train, val, test) held, from its ``data.<split>`` param (the
    logged description ``{'count': 4000, ...}``); None when the param is absent or has no count."""
    raw = trial.params.get(f"data.{split}")
    try:
        described = ast.literal_eval(raw) if raw else None
    except (ValueError, SyntaxError):
        return None
    return int(described["count"]) if isinstance(described, dict) and "count" in described else None


def _mean_by(pairs: Iterable[tuple[Any, float]]) -> dict[Any, float]:
    """Mean value per key (repeated trials of one grid point average; seeds are fixed, so they agree)."""
    groups: dict[Any, list[float]] = defaultdict(list)
    for key, value in pairs:
        groups[key].append(value)
    return {k: float(np.mean(v)) for k, v in groups.items()}


def learning_curves(trials: list[Trial], metric: str) -> dict[str, Curve]:
    """One curve per embedding kind: ``metric`` against ``data.train_samples``, sizes ascending."""
    means = _mean_by(((embedding_kind(t), int(_param(t, "data.train_samples"))), t.metrics[metric]) for t in trials)
    curves: dict[str, Curve] = defaultdict(list)
    for (kind, size), value in sorted(means.items(), key=lambda kv: kv[0][1]):
        curves[kind].append((size, value))
    return dict(curves)


@dataclass(frozen=True)
class Crossover:
    """Where ``learned`` overtakes ``pretrained`` for good: ``size`` (interpolated on a log scale between the
    last size where it is not ahead, ``below``, and the next, ``above``); None when it never does or leads
    everywhere, which ``note`` says in words."""

    size: float | None
    below: int | None
    above: int | None
    note: str


def crossover(learned: Curve, pretrained: Curve, name: str = "pretrained") -> Crossover:
    """The training-set size from which the learned curve stays above the pretrained one.

    Compares the two at the sizes both have. The crossing is the last one from "not ahead" to "ahead", and
    only if the learned curve is ahead at the largest size; its size is interpolated linearly in log(size).

    Raises:
        TrackingError: the curves share no size.
    """
    a, b = dict(learned), dict(pretrained)
    sizes = sorted(set(a) & set(b))
    if not sizes:
        raise TrackingError(f"learned and {name} curves share no training size: {sorted(a)} vs {sorted(b)}")
    d = [a[s] - b[s] for s in sizes]
    if all(x > 0 for x in d):
        return Crossover(None, None, None, f"learned ahead of {name} at every size (from {sizes[0]})")
    j = max(i for i, x in enumerate(d) if x <= 0)
    if j == len(sizes) - 1:
        ahead = [s for s, x in zip(sizes, d) if x > 0]
        return Crossover(None, None, None, f"curves never cross: learned never overtakes {name}" if not ahead else
                         f"learned never stays ahead of {name} (ahead only at {ahead}, behind at {sizes[-1]})")
    lo, hi = sizes[j], sizes[j + 1]
    t = d[j] / (d[j] - d[j + 1])  # d[j] <= 0 < d[j + 1]
    size = math.exp(math.log(lo) + t * (math.log(hi) - math.log(lo)))
    return Crossover(size, lo, hi, f"learned overtakes {name} at about {size:,.0f} reviews (between {lo} and {hi})")


def accuracy_grid(trials: list[Trial], row_key: str, col_key: str, metric: str
                  ) -> tuple[list[int], list[int], np.ndarray]:
    """``metric`` over two integer swept keys: sorted row values, column values, and a rows x cols matrix
    (NaN where no finished trial has that pair; the mean where several have)."""
    means = _mean_by(((int(_param(t, row_key)), int(_param(t, col_key))), t.metrics[metric]) for t in trials)
    rows = sorted({r for r, _ in means})
    cols = sorted({c for _, c in means})
    grid = np.full((len(rows), len(cols)), np.nan)
    for (r, c), value in means.items():
        grid[rows.index(r), cols.index(c)] = value
    return rows, cols, grid


def best_cell(rows: list[int], cols: list[int], grid: np.ndarray) -> tuple[int, int, float]:
    """The (row value, column value, metric) of the grid's highest finite cell.

    Raises:
        TrackingError: the grid has no finite value.
    """
    if not np.isfinite(grid).any():
        raise TrackingError("no finished trial in the grid: nothing to pick the best from")
    i, j = np.unravel_index(int(np.nanargmax(np.where(np.isfinite(grid), grid, np.nan))), grid.shape)
    return rows[int(i)], cols[int(j)], float(grid[i, j])


# ------------------------------------------------------------------------------------------------ drawing


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    _pyplot().close(fig)


def draw_pretrained_vs_learned(curves: dict[str, Curve], crossings: dict[str, Crossover], title: str,
                               out: Path, all_size: int | None = None) -> None:
    """Validation accuracy against training reviews (log x), one line per embedding kind, crossovers marked.

    Args:
        curves: from :func:`learning_curves`.
        crossings: pretrained kind -> :func:`crossover` of the learned curve with it.
        title: the figure's title.
        out: the PNG to write.
        all_size: the size that means "every training review", labelled so on the x axis.
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8.5, 5))
    styles = {LEARNED: ("tab:red", "o"), GLOVE_FROZEN: ("tab:blue", "s"), GLOVE_TUNED: ("tab:cyan", "^")}
    for kind in sorted(curves, key=lambda k: list(styles).index(k) if k in styles else 9):
        color, marker = styles.get(kind, ("gray", "x"))
        xs, ys = zip(*curves[kind])
        ax.plot(xs, ys, marker=marker, color=color, label=kind)
    notes = []
    for kind, cross in crossings.items():
        color = styles.get(kind, ("gray", ""))[0]
        if cross.size is not None:
            ax.axvline(cross.size, color=color, linestyle=":", linewidth=1.5)
            xs, ys = zip(*curves[LEARNED])
            y = np.interp(math.log(cross.size), [math.log(s) for s in xs], ys)  # on the drawn (log x) line
            ax.plot([cross.size], [y], marker="*", markersize=16, color="gold", markeredgecolor="black", zorder=5)
        notes.append(cross.note)
    ax.text(0.02, 0.97, "\n".join(notes), transform=ax.transAxes, va="top", fontsize=8.5,
            bbox={"facecolor": "white", "alpha": 0.85, "edgecolor": "0.7"})
    sizes = sorted({s for c in curves.values() for s, _ in c})
    ax.set_xscale("log")
    ax.set_xticks(sizes, [f"{s}\n(all)" if s == all_size else str(s) for s in sizes])
    ax.minorticks_off()
    ax.axhline(0.5, color="0.6", linestyle="--", linewidth=1)
    ax.set_xlabel("training reviews")
    ax.set_ylabel("best validation accuracy")
    ax.legend(loc="lower right")
    ax.grid(alpha=0.3)
    ax.set_title(title, fontsize=9.5)
    _save(fig, out)


def draw_width_maxlen(widths: list[int], maxlens: list[int], grid: np.ndarray, title: str, out: Path) -> None:
    """Two panels: accuracy against maxlen (one line per width) and against width (one line per maxlen),
    the best cell starred. ``grid`` is widths x maxlens (:func:`accuracy_grid`)."""
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.6), sharey=True)
    bw, bm, bv = best_cell(widths, maxlens, grid)
    panels = ((left, maxlens, widths, grid, "embedding width", "words kept per review (data.maxlen)"),
              (right, widths, maxlens, grid.T, "maxlen", "embedding width (model.embed_dim)"))
    for ax, xs, lines, values, line_name, xlabel in panels:
        colors = plt.cm.viridis(np.linspace(0, 0.9, len(lines)))
        for k, (line, color) in enumerate(zip(lines, colors)):
            ax.plot(xs, values[k], marker="o", color=color, label=f"{line_name} {line}")
        ax.plot([bm if ax is left else bw], [bv], marker="*", markersize=18, color="gold", markeredgecolor="black",
                zorder=5, label=f"best: width {bw}, maxlen {bm} ({bv:.4f})")
        ax.set_xscale("log")
        ax.set_xticks(xs, [str(x) for x in xs])
        ax.minorticks_off()
        ax.set_xlabel(xlabel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7.5, loc="lower right", ncol=2)
    lo, hi = float(np.nanmin(grid)), float(np.nanmax(grid))
    left.set_ylim(lo - 0.5 * (hi - lo), hi + 0.08 * (hi - lo))  # room below the lines for the legends
    left.set_ylabel("best validation accuracy")
    fig.suptitle(title, fontsize=10)
    _save(fig, out)
