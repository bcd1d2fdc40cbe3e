"""The ngram_bag model before and after bag encoding: samples/s and accuracy, both arms in one run.

* old - the model as it was before this benchmark's commit (reproduced below): every review padded to
        ``maxlen`` ids, bigrams hashed inside ``forward`` at every step, a dense gradient for the whole
        1.15M x 16 table and dense Adam; trained with the old config (4 epochs, counts, not binary).
* new - ``configs/sentiment/ngram_bag.yaml`` as seqlab trains it: ``SentimentTask.prepare`` (bags of word and
        hashed bigram ids, hashed once, no padding), ``run_epochs`` (the Ray Train worker's loop, here in
        process), LazyAdam on the sparse table, best validation epoch tested on the held-out reviews.

Both arms run on one torch thread (one CPU worker), see the same 18,000 / 2,000 / 5,000 split, select the
best validation epoch and test it on the 5,000 held-out reviews, and are also scored on
``benchmarks/short_reviews.csv``: 50 one-sentence critic snippets and informal comments written for this check
(nothing like IMDB's long user reviews). samples/s = training samples / epoch seconds (the training steps plus
the validation pass, as seqlab reports it); "cpu" uses the process's CPU time instead of wall time, which is
steadier on a loaded machine. The load average is printed: on a shared machine wall figures swing.

    python benchmarks/bag_speed.py                      # old: 4 epochs (about 3.5 min idle), new: about 1 min
    python benchmarks/bag_speed.py --old-steps 60       # old arm timed on 60 steps only (no old accuracy)
"""

from __future__ import annotations

import argparse
import copy
import csv
import math
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from seqlab.tasks import load_config
from seqlab.data.reviews import load_reviews
from seqlab.data.text import WordIndex
from seqlab.tasks import get_task
from seqlab.tasks.sentiment import model_input
from seqlab.training.loop import evaluate_test, run_epochs

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "configs" / "sentiment" / "ngram_bag.yaml"
SHORT = Path(__file__).resolve().parent / "short_reviews.csv"
OLD = {"epochs": 4, "batch_size": 64, "lr": 0.005, "maxlen": 1500, "buckets": 2**20, "dim": 16, "dropout": 0.2}


class OldNgramBag(nn.Module):
    """The ngram_bag model as it was: padded ``(B, maxlen)`` ids in, bigrams hashed at every forward."""

    def __init__(self, vocab_size: int, embed_dim: int, buckets: int, dropout: float) -> None:
        super().__init__()
        self.vocab_size, self.buckets = vocab_size, buckets
        self.bag = nn.EmbeddingBag(vocab_size + buckets, embed_dim, mode="mean", padding_idx=0)
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(embed_dim, 1)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        a, b = tokens[:, :-1], tokens[:, 1:]
        h = (a * 1_000_003 + b).remainder(self.buckets) + self.vocab_size
        bigrams = torch.where((a > 0) & (b > 0), h, torch.zeros_like(h))
        out: torch.Tensor = self.out(self.drop(self.bag(torch.cat([tokens, bigrams], dim=1))))
        return out.squeeze(-1)


def _accuracy(model: nn.Module, batches: list[tuple[Any, np.ndarray]]) -> float:
    model.eval()
    correct = total = 0
    with torch.inference_mode():
        for x, y in batches:
            out = model(*x) if isinstance(x, tuple) else model(x)
            correct += int(((out > 0).numpy() == (y > 0.5)).sum())
            total += len(y)
    return correct / max(total, 1)


def run_old(reviews: Any, short: tuple[list[str], np.ndarray], steps: int | None) -> dict[str, Any]:
    """Train the old path; ``steps`` caps each epoch (timing only) and then skips the accuracies."""
    index = WordIndex.fit(reviews.train_texts, max_words=100_000)
    pad = lambda texts: torch.from_numpy(index.to_padded(texts, OLD["maxlen"]))  # noqa: E731
    x_train, y_train = pad(reviews.train_texts), torch.as_tensor(reviews.train_labels, dtype=torch.float32)
    splits = {name: (pad(t), np.asarray(y, np.float32)) for name, t, y in (
        ("val", reviews.val_texts, reviews.val_labels), ("test", reviews.test_texts, reviews.test_labels),
        ("short", *short))}
    chunks = lambda x, y: [(x[s : s + 256], y[s : s + 256]) for s in range(0, len(y), 256)]  # noqa: E731
    torch.manual_seed(0)
    model = OldNgramBag(index.max_words, OLD["dim"], OLD["buckets"], OLD["dropout"])
    opt = torch.optim.Adam(model.parameters(), lr=OLD["lr"])
    rates, cpu_rates, best = [], [], (-1.0, None)
    epochs = 1 if steps else OLD["epochs"]
    for epoch in range(1, epochs + 1):
        t0, c0 = time.perf_counter(), time.process_time()
        order = np.random.default_rng(epoch).permutation(len(x_train))
        n_steps = min(steps or 10**9, math.ceil(len(order) / OLD["batch_size"]))
        model.train()
        for s in range(n_steps):
            idx = torch.from_numpy(order[s * OLD["batch_size"] : (s + 1) * OLD["batch_size"]])
            loss = nn.functional.binary_cross_entropy_with_logits(model(x_train[idx]), y_train[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        val = None if steps else _accuracy(model, chunks(*splits["val"]))
        seen = min(len(order), n_steps * OLD["batch_size"])
        rates.append(seen / (time.perf_counter() - t0))
        cpu_rates.append(seen / (time.process_time() - c0))
        print(f"  old epoch {epoch}: {rates[-1]:.0f} samples/s (cpu {cpu_rates[-1]:.0f}), val {val}", flush=True)
        if val is not None and val > best[0]:
            best = (val, copy.deepcopy(model.state_dict()))
    out: dict[str, Any] = {"samples_per_s": float(np.median(rates)), "cpu_samples_per_s": float(np.median(cpu_rates)),
                           "epochs": epochs, "val": None, "test": None, "short": None}
    if best[1] is not None:
        model.load_state_dict(best[1])
        out.update(val=best[0], test=_accuracy(model, chunks(*splits["test"])),
                   short=_accuracy(model, chunks(*splits["short"])))
    return out


def run_new(cfg: Any, short: tuple[list[str], np.ndarray]) -> dict[str, Any]:
    """Train the shipped config with seqlab's own prepare and loop (no Ray), on one thread."""
    task = get_task("sentiment")
    t0 = time.perf_counter()
    prepared = task.prepare(cfg)
    prepare_s = time.perf_counter() - t0
    cpu_marks: list[float] = [time.process_time()]
    state = run_epochs(cfg, prepared, report=lambda metrics, full: cpu_marks.append(time.process_time()))
    history = state["history"]
    cpu_rates = [len(prepared.train) / (b - a) for a, b in zip(cpu_marks, cpu_marks[1:])]
    for h, c in zip(history, cpu_rates):
        print(f"  new epoch {h['epoch']}: {h['samples_per_s']:.0f} samples/s (cpu {c:.0f}), "
              f"val {h['val_accuracy']:.4f}", flush=True)
    test = evaluate_test(cfg, task, prepared, state)["test_accuracy"]
    module = task.build_model(cfg, prepared.preprocessing)
    module.load_state_dict(state["best_model_state"])
    index = WordIndex.from_dict(prepared.preprocessing["word_index"])
    short_acc = _accuracy(module, [(model_input(index, short[0], prepared.preprocessing), short[1])])
    with torch.inference_mode():
        wrong = (module(*model_input(index, short[0], prepared.preprocessing)) > 0).numpy() != (short[1] > 0.5)
    for text, label in zip(np.array(short[0])[wrong], short[1][wrong]):
        print(f"  new, short set, wrong: {text!r} (label {int(label)})")
    return {"samples_per_s": float(np.median([h["samples_per_s"] for h in history])),
            "cpu_samples_per_s": float(np.median(cpu_rates)), "epochs": len(history),
            "val": state["best_metric"], "test": test, "short": short_acc,
            "train_s": sum(h["epoch_s"] for h in history), "prepare_s": prepare_s}


def read_short() -> tuple[list[str], np.ndarray]:
    with SHORT.open(newline="") as f:
        rows = list(csv.DictReader(f))
    return [r["text"] for r in rows], np.array([float(r["label"]) for r in rows], dtype=np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--old-steps", type=int, default=None, help="time the old arm on this many steps only")
    parser.add_argument("--no-old", action="store_true", help="train the new arm only")
    parser.add_argument("overrides", nargs="*", help="dotted overrides of the new arm's config, e.g. train.epochs=6")
    args = parser.parse_args()
    torch.set_num_threads(1)
    cfg = load_config(CONFIG, args.overrides)
    short = read_short()
    print(f"load average before: {os.getloadavg()}", flush=True)
    new = run_new(cfg, short)
    old = None if args.no_old else run_old(load_reviews(cfg.data), short, args.old_steps)
    print(f"load average after: {os.getloadavg()}")
    fmt = lambda v: "-" if v is None else (f"{v:.4f}" if isinstance(v, float) and v < 1.5 else f"{v:,.0f}")  # noqa: E731
    print(f"\n{'':24}{'old':>12}{'new':>12}")
    for key in ("samples_per_s", "cpu_samples_per_s", "val", "test", "short", "epochs"):
        print(f"{key:24}{fmt(old[key]) if old else '-':>12}{fmt(new[key]):>12}")
    print(f"new: {new['train_s']:.1f} s of training ({new['epochs']} epochs), {new['prepare_s']:.1f} s to prepare")
    if old:
        print(f"speed-up: {new['samples_per_s'] / old['samples_per_s']:.1f}x wall, "
              f"{new['cpu_samples_per_s'] / old['cpu_samples_per_s']:.1f}x cpu")


if __name__ == "__main__":
    main()
