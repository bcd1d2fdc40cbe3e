"""The command line shared by the per-seed quality benchmarks (``sentiment_quality.py``, ``forecast_quality.py``)."""

from __future__ import annotations

import argparse

import torch


def parse_seeded_args(doc: str, override_example: str) -> tuple[argparse.Namespace, list[int]]:
    """``--config``, ``--seeds``, ``--threads``, ``--json`` and dotted overrides; sets torch's thread count.

    Returns the parsed arguments and the seeds as integers.
    """
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--seeds", default="0", help="comma-separated train.seed values")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the machine is shared)")
    parser.add_argument("--json", default=None, help="append one JSON line per run to this file")
    parser.add_argument("overrides", nargs="*", help=f"dotted overrides, e.g. {override_example}")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    return args, [int(s) for s in args.seeds.split(",")]
