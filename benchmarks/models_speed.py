"""Training-step time of every chapter model at the book's sizes, and the cost of recurrent dropout.

One step is forward + loss + backward + Adam update on a random batch (the time does not depend on the
values). Forecast models read the book's windows (lookback 1440 rows, step 6 -> 240 steps, 14 features);
sentiment models read 500-token reviews from a 10,000-word index.

    python benchmarks/models_speed.py                     # CPU, or CUDA when present
    python benchmarks/models_speed.py --steps 20 --batch 128 --device cpu
"""

from __future__ import annotations

import argparse
import time

import torch
from torch import nn

from seqlab.models.series import SERIES_MODELS, SeriesModelConfig
from seqlab.models.text import TEXT_MODELS, TextModelConfig
from seqlab.models.series import build_series_model
from seqlab.models.text import build_text_model


def step_ms(model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss_fn: nn.Module, steps: int) -> float:
    """Median milliseconds of one training step, after two warm-up steps."""
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    times = []
    for i in range(steps + 2):
        if x.is_cuda:
            torch.cuda.synchronize()
        start = time.perf_counter()
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        opt.step()
        if x.is_cuda:
            torch.cuda.synchronize()
        if i >= 2:  # the first steps allocate and pick kernels
            times.append((time.perf_counter() - start) * 1e3)
    return sorted(times)[len(times) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.manual_seed(0)

    window, features = 240, 14
    x = torch.randn(args.batch, window, features, device=device)
    y = torch.randn(args.batch, device=device)
    print(f"forecast, {window} steps x {features} features, batch {args.batch}, {device}")
    for name in SERIES_MODELS:
        for recurrent_dropout in (0.0, 0.3) if name in ("gru", "lstm", "conv1d_gru") else (0.0,):
            cfg = SeriesModelConfig(name=name, recurrent_dropout=recurrent_dropout)
            model = build_series_model(cfg, window, features).to(device)
            ms = step_ms(model, x, y, nn.MSELoss(), args.steps)
            print(f"  {name:<11} recurrent_dropout={recurrent_dropout:<4} {ms:8.2f} ms/step")

    vocab, maxlen = 10_000, 500
    tokens = torch.randint(0, vocab, (args.batch, maxlen), device=device)
    labels = torch.randint(0, 2, (args.batch,), device=device).float()
    print(f"sentiment, {maxlen} tokens, vocab {vocab}, batch {args.batch}, {device}")
    for name in TEXT_MODELS:
        model = build_text_model(TextModelConfig(name=name), vocab, maxlen).to(device)
        ms = step_ms(model, tokens, labels, nn.BCEWithLogitsLoss(), args.steps)
        print(f"  {name:<11} {ms:8.2f} ms/step")


if __name__ == "__main__":
    main()
