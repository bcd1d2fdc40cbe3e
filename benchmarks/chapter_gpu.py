"""The chapter's experiments at full size, each config as written, on one accelerator without Ray or MLflow.

For a GPU box where only torch, numpy, pandas, pydantic and pyyaml (plus the data packages) exist: the same
training loop Ray Train workers run (``seqlab.training.loop.run_epochs``), in this process, then the held-out test
metrics of the best epoch's weights (``evaluate_test``). The GloVe rows need the packaged GloVe vectors and
are skipped with ``--skip-glove``. ``benchmarks/book_table.py`` is the Ray + MLflow version of this table.

    PYTHONPATH=platform python benchmarks/chapter_gpu.py --device cuda --skip-glove
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from seqlab.tasks import load_config
from seqlab.tasks import get_task
from seqlab.training.loop import evaluate_test, run_epochs

ROOT = Path(__file__).resolve().parent.parent
# (config, the book's validation figure: accuracy for sentiment, normalized MAE for forecast)
EXPERIMENTS = [
    ("sentiment/flatten", "0.76"), ("sentiment/glove_200", "~0.57"), ("sentiment/learned_200", "~0.52"),
    ("sentiment/conv1d", "0.84"), ("sentiment/lstm", "0.89"), ("sentiment/ngram_bag", "-"),
    ("forecast/dense", "~0.30"), ("forecast/gru", "0.265"), ("forecast/gru_dropout", "0.262"),
    ("forecast/stacked", "~0.26"), ("forecast/bidirectional", "~0.265"), ("forecast/conv1d", "0.45"),
    ("forecast/conv1d_gru", "0.273"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--skip-glove", action="store_true")
    parser.add_argument("--only", default="", help="comma-separated config names, e.g. sentiment/lstm")
    args = parser.parse_args()
    device = torch.device(args.device)
    only = {s for s in args.only.split(",") if s}
    rows = []
    for name, book in EXPERIMENTS:
        if (only and name not in only) or (args.skip_glove and "glove" in name):
            continue
        cfg = load_config(ROOT / "configs" / f"{name}.yaml")
        task = get_task(cfg.task)
        t0 = time.perf_counter()
        prepared = task.prepare(cfg)
        state = run_epochs(cfg, prepared, device=device)
        test = evaluate_test(cfg, task, prepared, state)
        seconds = time.perf_counter() - t0
        best = state["best_metrics"]
        if cfg.task == "sentiment":
            ours, held = f"{best['val_accuracy']:.3f}", f"{test['test_accuracy']:.3f}"
        else:
            ours = f"{best['val_mae']:.3f} ({best['val_mae_degrees']:.2f} deg)"
            held = f"{test['test_mae']:.3f} ({test['test_mae_degrees']:.2f} deg)"
            base = prepared.info["baseline.val_mae"]
            ours += f" vs baseline {base:.3f}"
        rows.append((name, book, ours, held, len(state["history"]), seconds))
        print(f"[chapter_gpu] {name}: {ours}; test {held}; {seconds:.0f} s", flush=True)
    print(f"\nmode: configs as written, run_epochs on {device} "
          f"({torch.cuda.get_device_name() if device.type == 'cuda' else 'cpu'}), no Ray, no MLflow")
    print(f"{'experiment':24} {'book':>7}  {'seqlab best validation':38} {'seqlab held-out test':22} {'epochs':>6} {'s':>5}")
    for name, book, ours, held, epochs, seconds in rows:
        print(f"{name:24} {book:>7}  {ours:38} {held:22} {epochs:>6} {seconds:5.0f}")


if __name__ == "__main__":
    main()
