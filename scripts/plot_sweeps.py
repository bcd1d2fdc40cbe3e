"""The chapter's sentiment findings as pictures, each from one sweep's MLflow runs -> a PNG.

    seqlab tune --config configs/sentiment/sweep_pretrained_vs_learned.yaml
    python scripts/plot_sweeps.py pretrained-vs-learned   # -> figures/pretrained_vs_learned.png
    seqlab tune --config configs/sentiment/sweep_width_maxlen.yaml
    python scripts/plot_sweeps.py width-maxlen            # -> figures/width_maxlen.png
    python scripts/plot_sweeps.py width-maxlen --out docs/width_maxlen.png   # replace the README's picture

The default folder ``figures/`` is not tracked by git: a run leaves the committed ``docs/`` pictures as they are.

Each subcommand finds the newest sentiment sweep over exactly its sweep file's keys (or the one --sweep
names), reads the finished trials' best validation accuracy, prints the figures, writes the PNG and logs it
to the sweep's parent run under ``figures/``. MLflow: $MLFLOW_TRACKING_URI (default sqlite:///mlflow.db), as
``seqlab tune`` used. The forecast picture has its own script, scripts/plot_forecast_lookback.py.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from seqlab.errors import SeqlabError
from seqlab.tracking import runs as tracking
from seqlab.tracking import sweep_figures as figs
from seqlab.tracking.sweep_trials import find_sweep, finished_trials, log_figure

ROOT = Path(__file__).resolve().parent.parent
METRIC = "best_val_accuracy"
PICTURES = {
    # subcommand: (the sweep file's keys, default PNG)
    "pretrained-vs-learned": ({"data.train_samples", "model.embedding", "model.freeze_embedding"},
                              "pretrained_vs_learned.png"),
    "width-maxlen": ({"model.embed_dim", "data.maxlen"}, "width_maxlen.png"),
}


def pretrained_vs_learned(trials: list[Any], name: str, out: Path, all_size: int) -> None:
    curves = figs.learning_curves(trials, METRIC)
    if figs.LEARNED not in curves:
        sys.exit(f"sweep {name!r} has no finished trial with a learned embedding")
    crossings = {kind: figs.crossover(curves[figs.LEARNED], curve, kind)
                 for kind, curve in curves.items() if kind != figs.LEARNED}
    sizes = sorted({s for c in curves.values() for s, _ in c})
    print("training reviews  " + "  ".join(f"{k:>18}" for k in curves))
    for s in sizes:
        row = [dict(c).get(s) for c in curves.values()]
        print(f"{s:>16}  " + "  ".join(f"{v:>18.4f}" if v is not None else f"{'-':>18}" for v in row))
    for cross in crossings.values():
        print(cross.note)
    p = trials[0].params
    title = (f"sentiment sweep {name} ({len(trials)} trials): pretrained (GloVe) vs learned embedding\n"
             f"{p['model.name']} model, Embedding({p['data.max_words']}, {p['model.embed_dim']}), "
             f"last {p['data.maxlen']} words, {figs.split_count(trials[0], 'val')} validation reviews")
    figs.draw_pretrained_vs_learned(curves, crossings, title, out, all_size=all_size)


def width_maxlen(trials: list[Any], name: str, out: Path) -> None:
    widths, maxlens, grid = figs.accuracy_grid(trials, "model.embed_dim", "data.maxlen", METRIC)
    print("width \\ maxlen  " + "  ".join(f"{m:>7}" for m in maxlens))
    for w, row in zip(widths, grid):
        print(f"{w:>14}  " + "  ".join(f"{v:>7.4f}" for v in row))
    bw, bm, bv = figs.best_cell(widths, maxlens, grid)
    print(f"best: width {bw}, maxlen {bm}: {METRIC} {bv:.4f}")
    title = (f"sentiment sweep {name} ({len(trials)} trials): a learned embedding, the mean of the vectors of the last "
             f"maxlen words ({trials[0].params['model.name']}),\n{figs.split_count(trials[0], 'train')} training "
             f"reviews, {figs.split_count(trials[0], 'val')} validation reviews")
    figs.draw_width_maxlen(widths, maxlens, grid, title, out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("picture", choices=sorted(PICTURES))
    parser.add_argument("--sweep", default=None, help="the sweep's name (tag seqlab.sweep); default: the newest")
    parser.add_argument("--experiment", default="seqlab")
    parser.add_argument("--out", default=None, help="the PNG (default figures/<picture>.png, untracked)")
    parser.add_argument("--all-size", type=int, default=16000,
                        help="the data.train_samples that means every training review (labelled 'all')")
    args = parser.parse_args()
    keys, png = PICTURES[args.picture]
    out = Path(args.out) if args.out else ROOT / "figures" / png
    out.parent.mkdir(parents=True, exist_ok=True)
    c = tracking.client(tracking.resolve_tracking_uri(None))
    try:
        parent = find_sweep(c, args.experiment, "sentiment", keys, args.sweep, exact=True)
        trials = finished_trials(c, parent, METRIC)
        if not trials:
            sys.exit(f"sweep {parent.info.run_name!r} has no finished trials with {METRIC}")
        if args.picture == "pretrained-vs-learned":
            pretrained_vs_learned(trials, parent.info.run_name, out, args.all_size)
        else:
            width_maxlen(trials, parent.info.run_name, out)
    except SeqlabError as exc:
        sys.exit(f"{type(exc).__name__}: {exc}")
    where = log_figure(c, parent, out)
    print(f"{out} ({len(trials)} trials) logged to run {parent.info.run_id} ({parent.info.run_name}) as {where}")


if __name__ == "__main__":
    main()
