"""The chapter's experiments through seqlab, next to the book's figures, in one table.

Every experiment is one config under ``configs/`` trained by ``seqlab.training.driver.run_training`` on one Ray Train
worker and tracked in a throw-away MLflow SQLite store. The table shows the book's figure (first-edition
Keras notebooks: IMDB and Jena), seqlab's best validation figure, the held-out test figure of the same best
weights, the epochs run and the wall seconds of the whole ``run_training`` call (data, Ray start-up, MLflow).

Data: the book used the Jena climate series (10-minute rows, 2009-2016); seqlab's offline default is the
packaged NYC 2013 hourly weather (EWR), so forecast MAEs are compared *relative to each data set's
common-sense baseline* (the ``x base`` figures), not in absolute terms. IMDB is the same data set.

    python benchmarks/book_table.py --quick                 # minutes on a 2-core CPU
    python benchmarks/book_table.py                         # the configs as written (an hour or more on CPU)
    python benchmarks/book_table.py --quick --only flatten,gru,baseline --json /tmp/book.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Before Ray is imported: plain worker prints, every worker line shown.
os.environ.setdefault("RAY_TRAIN_ENABLE_PRINT_PATCH", "0")
os.environ.setdefault("RAY_DEDUP_LOGS", "0")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = ROOT / "configs"


@dataclass(frozen=True)
class Experiment:
    name: str  # what --only takes
    config: str | None  # relative to configs/; None for the common-sense baseline
    label: str
    book: float | None  # validation accuracy (sentiment) or normalized MAE (forecast)
    book_note: str = ""
    quick: tuple[str, ...] = ()  # overrides added in --quick mode (on top of QUICK_COMMON)


# The book's Jena common-sense MAE: 0.29 normalized (2.57 degC); forecast rows are also shown relative to it.
JENA_BASELINE = 0.29
QUICK_COMMON = ("train.epochs=2",)

EXPERIMENTS = [
    Experiment("flatten", "sentiment/flatten.yaml", "IMDB Embedding(8)+Flatten, maxlen 20", 0.76,
               quick=("train.epochs=3",)),
    Experiment("glove_200", "sentiment/glove_200.yaml", "IMDB GloVe frozen, 200 samples", 0.57, "~",
               quick=("train.epochs=10",)),  # 7 steps an epoch: the whole run is cheap
    Experiment("learned_200", "sentiment/learned_200.yaml", "IMDB learned emb., 200 samples", 0.52, "~",
               quick=("train.epochs=10",)),
    Experiment("lstm", "sentiment/lstm.yaml", "IMDB LSTM(32)", 0.89,
               quick=("data.maxlen=200", "data.val_samples=2000", "train.max_steps_per_epoch=60")),
    Experiment("conv1d", "sentiment/conv1d.yaml", "IMDB Conv1D", 0.84,
               quick=("data.maxlen=200", "data.val_samples=2000", "train.max_steps_per_epoch=60")),
    Experiment("ngram_bag", "sentiment/ngram_bag.yaml", "IMDB bag of 2-grams (seqlab's own)", None,
               quick=("data.maxlen=500", "train.max_steps_per_epoch=100")),
    Experiment("baseline", None, "weather common-sense baseline", JENA_BASELINE),  # Jena: 2.57 degC
    Experiment("dense", "forecast/dense.yaml", "weather Flatten+Dense(32)", 0.30, "~",
               quick=("train.epochs=5",)),
    Experiment("gru", "forecast/gru.yaml", "weather GRU(32)", 0.265, quick=("train.epochs=5",)),
    Experiment("gru_dropout", "forecast/gru_dropout.yaml", "weather GRU(32) + dropout", 0.262,
               quick=("train.epochs=5",)),
    Experiment("stacked", "forecast/stacked.yaml", "weather stacked GRU x2", 0.26, "~", quick=("train.epochs=5",)),
    Experiment("bidirectional", "forecast/bidirectional.yaml", "weather bidirectional GRU", 0.265, "~",
               quick=("train.epochs=5",)),
    Experiment("conv1d_f", "forecast/conv1d.yaml", "weather Conv1D only", 0.45, quick=("train.epochs=5",)),
    Experiment("conv1d_gru", "forecast/conv1d_gru.yaml", "weather Conv1D+GRU", 0.273,
               quick=("train.epochs=5",)),
]
BY_NAME = {e.name: e for e in EXPERIMENTS}


@dataclass
class Row:
    experiment: str
    label: str
    task: str
    book: float | None
    book_note: str
    overrides: list[str] = field(default_factory=list)
    val: float | None = None
    val_degrees: float | None = None
    test: float | None = None
    test_degrees: float | None = None
    unit: str = ""  # of the *_degrees figures: the series' own ("degF" for the packaged NYC weather)
    baseline: float | None = None  # this data's common-sense val MAE (forecast rows)
    test_baseline: float | None = None  # ... and test MAE
    epochs: int | None = None
    seconds: float | None = None
    error: str = ""


def experiment_overrides(exp: Experiment, quick: bool, store: str, uri: str) -> list[str]:
    """Per-run settings: where Ray and MLflow write (a temp folder), one worker, and the --quick budget."""
    fixed = [f"train.storage_path={store}", f"tracking.tracking_uri={uri}", "tracking.experiment=book-table",
             "train.num_workers=1"]
    if not quick:
        return fixed
    shown = dict(o.split("=", 1) for o in QUICK_COMMON)
    shown.update(dict(o.split("=", 1) for o in exp.quick))  # per-experiment wins over the common ones
    return fixed + [f"{k}={v}" for k, v in shown.items()]


def budget_overrides(overrides: list[str]) -> list[str]:
    """The overrides that change what is trained (not where things are written)."""
    return [o for o in overrides if not o.startswith(("train.storage_path=", "tracking.", "train.num_workers="))]


def run_one(exp: Experiment, overrides: list[str]) -> Row:
    from seqlab.tasks import load_config
    from seqlab.training.driver import run_training

    assert exp.config is not None
    cfg = load_config(CONFIGS / exp.config, overrides)
    row = Row(exp.name, exp.label, cfg.task, exp.book, exp.book_note, budget_overrides(overrides))
    t0 = time.perf_counter()
    result = run_training(cfg, name=f"book-{exp.name}-{int(time.time())}")
    row.seconds = time.perf_counter() - t0
    row.epochs = len(result.history)
    if cfg.task == "sentiment":
        row.val = result.metrics["val_accuracy"]
        row.test = result.test_metrics["test_accuracy"]
    else:
        row.val, row.val_degrees = result.metrics["val_mae"], result.metrics["val_mae_degrees"]
        row.test, row.test_degrees = result.test_metrics["test_mae"], result.test_metrics["test_mae_degrees"]
        row.baseline = result.info["baseline.val_mae"]
        row.test_baseline, row.unit = test_baseline(cfg)
    return row


def test_baseline(cfg: Any) -> tuple[float, str]:
    """The common-sense MAE on the test windows (the task's info only carries the validation one)."""
    from seqlab.data.weather import prepare_series

    s = prepare_series(cfg.data)
    return s.test_baseline_mae_norm, s.series.unit


def baseline_row(exp: Experiment) -> Row:
    """The common-sense baseline of the forecast data (the last known temperature, ``delay`` rows on)."""
    from seqlab.tasks import load_config
    from seqlab.data.weather import prepare_series

    cfg = load_config(CONFIGS / "forecast/gru.yaml")  # lookback 240, delay 24: the windows most rows use
    t0 = time.perf_counter()
    s = prepare_series(cfg.data)  # what ForecastTask.prepare puts in info["baseline.val_mae*"], plus test
    row = Row(exp.name, exp.label, "forecast", exp.book, exp.book_note)
    row.val, row.val_degrees = s.baseline_mae_norm, s.baseline_mae_degrees
    row.test, row.test_degrees = s.test_baseline_mae_norm, s.test_baseline_mae_degrees
    row.unit = s.series.unit
    row.baseline, row.test_baseline = row.val, row.test
    row.seconds = time.perf_counter() - t0
    return row


def _fmt(x: float | None, spec: str) -> str:
    return "-" if x is None else format(x, spec)


def cells(r: Row) -> tuple[str, str, str]:
    """The book's figure, seqlab's validation figure and its held-out test figure of one row, as text."""
    if r.task == "sentiment":
        book = f"{r.book_note}{_fmt(r.book, '.2f')} acc" if r.book is not None else "-"
        val = f"{_fmt(r.val, '.3f')} acc"
        test = f"{_fmt(r.test, '.3f')} acc"
    else:
        rel_book = f" {r.book / JENA_BASELINE:.2f}xb" if r.book is not None else ""
        if r.experiment == "baseline":
            rel_book = " 2.57 degC"  # the book's figure in degrees
        book = f"{r.book_note}{_fmt(r.book, '.3f')}{rel_book}"
        rel = f" {r.val / r.baseline:.2f}xb" if r.val is not None and r.baseline else ""
        val = f"{_fmt(r.val, '.3f')}{rel} {_fmt(r.val_degrees, '.2f')} {r.unit}".rstrip()
        rel_test = f" {r.test / r.test_baseline:.2f}xb" if r.test is not None and r.test_baseline else ""
        test = "-" if r.test is None else f"{r.test:.3f}{rel_test} {_fmt(r.test_degrees, '.2f')} {r.unit}".rstrip()
    if r.error:
        val, test = "FAILED", r.error
    return book, val, test


def print_table(rows: list[Row]) -> None:
    head = (f"{'experiment':<38} {'book':>15} {'seqlab val':>21} {'seqlab test':>21} {'epochs':>6} "
            f"{'seconds':>8}")
    print(head)
    print("-" * len(head))
    for r in rows:
        book, val, test = cells(r)
        print(f"{r.label:<38} {book:>15} {val:>21} {test[:21]:>21} {_fmt(r.epochs, 'd'):>6} "
              f"{_fmt(r.seconds, '.1f'):>8}")


def markdown_table(rows: list[Row]) -> str:
    """The table as GitHub markdown (one row per experiment; a failed one shows its error)."""
    lines = ["| experiment | config | book | seqlab validation | seqlab held-out test | epochs | seconds |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        book, val, test = cells(r)
        config = BY_NAME[r.experiment].config if r.experiment in BY_NAME else None
        where = f"`{config}`" if config else "-"
        if r.overrides:
            where += " " + " ".join(f"`{o}`" for o in r.overrides)
        test = test.replace("|", "/")  # an error message must not split the row
        lines.append(f"| {r.label} | {where} | {book} | {val} | {test} | {_fmt(r.epochs, 'd')} | "
                     f"{_fmt(r.seconds, '.0f')} |")
    return "\n".join(lines) + "\n"


MARK_START, MARK_END = "<!-- book_table: start -->", "<!-- book_table: end -->"


def write_markdown(path: Path, command: str, notes: list[str], rows: list[Row]) -> None:
    """Write the command, the notes and the table to ``path``, between the book_table markers.

    A page that already has the markers keeps everything outside them (the prose around the table); any other
    page is replaced by the markers and what goes between them.
    """
    block = "\n".join([MARK_START, f"Produced by `{command}`.", "", *(f"{n}  " for n in notes), "",
                       markdown_table(rows) + MARK_END])
    old = path.read_text() if path.is_file() else ""
    if MARK_START in old and MARK_END in old:
        before, rest = old.split(MARK_START, 1)
        after = rest.split(MARK_END, 1)[1]
        path.write_text(before + block + after)
    else:
        path.write_text(block + "\n")


def notes(quick: bool, names: list[str], load: tuple[float, float], total: float) -> list[str]:
    """What the table's figures mean and how they were taken."""
    mode = "--quick" if quick else "default (configs as written)"
    out = [f"mode: {mode}; 1 Ray Train worker, CPU; load average {load[0]:.1f} at start, {load[1]:.1f} at end, "
           f"{os.cpu_count()} CPUs; total {total:.0f} s"]
    if quick:
        out.append(f"--quick overrides: common {' '.join(QUICK_COMMON)}; per experiment (these win):")
        out += [f"  {n:<14} {' '.join(budget_overrides(experiment_overrides(BY_NAME[n], True, '', '')))}"
                for n in names if BY_NAME[n].config is not None]
    out += [
        "book = first-edition notebooks (IMDB; Jena 2009-2016). seqlab forecast data = packaged NYC 2013 hourly",
        "(EWR, lookback 240 h, delay 24 h): compare MAEs through 'xb' = MAE / the same split's common-sense MAE.",
        "val = best epoch's validation figure (accuracy, or MAE normalized + in the series' unit); test = held-out",
        "test of the same weights; seconds = wall time of run_training (data prep, Ray start-up, MLflow,",
        "training).",
    ]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer epochs/steps, shorter reviews: minutes on CPU")
    parser.add_argument("--only", default="", help=f"comma-separated subset of: {','.join(BY_NAME)}")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows and settings here")
    parser.add_argument("--markdown", type=Path, default=None,
                        help="also write the command, notes and table here (between book_table markers)")
    parser.add_argument("--verbose", action="store_true", help="show the workers' per-epoch lines and Ray's logs")
    args = parser.parse_args()

    names = [n.strip() for n in args.only.split(",") if n.strip()] or list(BY_NAME)
    unknown = [n for n in names if n not in BY_NAME]
    if unknown:
        sys.exit(f"--only: unknown experiment(s) {unknown}; choose from: {', '.join(BY_NAME)}")

    import logging

    import ray

    from seqlab.runtime.cluster import DRIVER_RESOURCE

    if not args.verbose:
        logging.getLogger("ray").setLevel(logging.ERROR)
        logging.getLogger("mlflow").setLevel(logging.WARNING)
        warnings.filterwarnings("ignore", category=UserWarning)  # MLflow's pyfunc type-hint advice
    tmp = Path(tempfile.mkdtemp(prefix="seqlab-book-"))
    store, uri = str(tmp / "ray"), f"sqlite:///{tmp}/mlflow.db"
    # address="local": a private instance even when another `ray start` cluster runs on this machine
    ray.init(address="local", include_dashboard=False, object_store_memory=1024 * 2**20,
             resources={DRIVER_RESOURCE: 8},
             log_to_driver=args.verbose, logging_level=logging.INFO if args.verbose else logging.ERROR)
    load_start = os.getloadavg()
    t_all = time.perf_counter()
    rows: list[Row] = []
    try:
        for name in names:
            exp = BY_NAME[name]
            if exp.config is None:
                rows.append(baseline_row(exp))
                continue
            overrides = experiment_overrides(exp, args.quick, store, uri)
            print(f"[book_table] {name}: {exp.config} {' '.join(budget_overrides(overrides))}", flush=True)
            try:
                rows.append(run_one(exp, overrides))
            except Exception as exc:  # one broken experiment must not hide the others
                row = Row(exp.name, exp.label, "sentiment" if "sentiment" in exp.config else "forecast",
                          exp.book, exp.book_note, budget_overrides(overrides), error=f"{type(exc).__name__}: {exc}")
                print(f"[book_table] {name} FAILED: {row.error}", flush=True)
                rows.append(row)
    finally:
        ray.shutdown()
        shutil.rmtree(tmp, ignore_errors=True)
    total = time.perf_counter() - t_all
    load_end = os.getloadavg()

    lines = notes(args.quick, names, (load_start[0], load_end[0]), total)
    print()
    print("\n".join(lines))
    print()
    print_table(rows)
    if args.json:
        args.json.write_text(json.dumps({"mode": "quick" if args.quick else "default", "quick_common": QUICK_COMMON,
                                         "load_average": [load_start, load_end], "total_s": total,
                                         "rows": [r.__dict__ for r in rows]}, indent=2))
        print(f"\nwrote {args.json}")
    if args.markdown:
        command = "python benchmarks/book_table.py " + " ".join(sys.argv[1:])
        write_markdown(args.markdown, command.strip(), lines, rows)
        print(f"wrote {args.markdown}")


if __name__ == "__main__":
    main()
