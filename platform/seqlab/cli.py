"""The ``seqlab`` command line.

    seqlab data describe [--config <config.yaml> ...]
    seqlab validate --config <config.yaml> train.lr=1e-3
    seqlab train --config <config.yaml> train.num_workers=2
    seqlab tune --config <sweep.yaml> [--resume]
    seqlab promote --task <task> --run <mlflow run id>
    seqlab serve [--config configs/serve.yaml] [--reload]
    seqlab pipeline --config configs/pipeline.yaml

Every command prints a clear ``error: ...`` and exits 2 on bad input (config, data, checkpoint, store).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from seqlab.errors import SeqlabError


def _cmd_validate(args: argparse.Namespace) -> int:
    import yaml

    from seqlab.config import config_to_dict
    from seqlab.tasks import load_config

    cfg = load_config(args.config, args.overrides)
    print(yaml.safe_dump(config_to_dict(cfg), sort_keys=False), end="")
    return 0


def _cmd_data(args: argparse.Namespace) -> int:
    if args.action == "shards":
        return _write_shards(args)
    from seqlab.describe import describe_all

    report = describe_all(args.config)
    print(json.dumps(_finite(report), indent=2, allow_nan=False) if args.json else _render(report))
    return 0


def _finite(value: Any) -> Any:
    """``value`` with every NaN or infinite float as None: JSON has no NaN (json.dumps wrote a bare ``NaN``)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _write_shards(args: argparse.Namespace) -> int:
    from seqlab.data.reviews import read_packaged_reviews
    from seqlab.data.shards import write_shards

    texts, labels = read_packaged_reviews()
    t0 = time.perf_counter()
    paths = write_shards(texts, labels, args.out, args.format, files=args.files, repeat=args.repeat, seed=args.seed)
    print(f"[seqlab] wrote {len(texts) * args.repeat:,} reviews ({len(texts):,} distinct) as {len(paths)} "
          f"{args.format} files under {args.out} in {time.perf_counter() - t0:.1f} s; train on them with "
          f"data.source=files data.path={args.out}", flush=True)
    return 0


def _render(report: dict[str, Any], indent: int = 0) -> str:
    lines = []
    for key, value in report.items():
        if isinstance(value, dict):
            lines.append(" " * indent + f"{key}:")
            lines.append(_render(value, indent + 2))
        else:
            lines.append(" " * indent + f"{key}: {value}")
    return "\n".join(lines)


def _cmd_train(args: argparse.Namespace) -> int:
    import yaml

    from seqlab.config import config_to_dict
    from seqlab.runtime.cluster import init_ray
    from seqlab.runtime.console import summary
    from seqlab.tasks import load_config
    from seqlab.training.driver import run_training

    overrides = [*args.overrides, *(["train.force_new=true"] if args.force_new else [])]
    cfg = load_config(args.config, overrides)  # validated before any Ray resource is asked for
    print("[seqlab] resolved config:\n" + yaml.safe_dump(config_to_dict(cfg), sort_keys=False), flush=True)
    if args.dashboard:
        init_ray(dashboard=True)
    # else run_training starts Ray itself, with the data prepared and the MLflow store checked alongside
    result = run_training(cfg)
    from seqlab.tasks import get_task

    print(summary(result, mode=get_task(cfg.task).mode), flush=True)
    t0 = time.perf_counter()
    _stop_ray()  # now, not in Ray's exit hook, which first sleeps half a second
    result.timing["ray_stop"] = time.perf_counter() - t0
    if os.environ.get("SEQLAB_TIMING_FILE"):  # benchmarks/startup.py reads where the seconds went
        Path(os.environ["SEQLAB_TIMING_FILE"]).write_text(json.dumps(result.timing))
    return 0


def _cmd_tune(args: argparse.Namespace) -> int:
    from seqlab.sweeps.driver import run_sweep
    from seqlab.sweeps.sweep_file import load_sweep

    sweep = load_sweep(args.config, args.overrides)  # the space is checked before any trial starts
    result = run_sweep(sweep, resume=args.resume, scheduler=args.scheduler, name=args.name,
                       promote=False if args.no_promote else None)
    metric = f"best_{get_metric(sweep.task)}"
    failed = f" ({len(result.errors)} failed)" if result.errors else ""
    print(f"[seqlab] sweep {result.name}: {len(result.trials)} trials{failed}, {result.total_epochs} trial-epochs, "
          f"{result.wall_s:.0f} s; MLflow parent run {result.parent_run_id}")
    for t in result.trials:
        params = {k.removeprefix("param."): v for k, v in t.items() if k.startswith("param.")}
        print(f"  {t['trial']:>14} {t['status']:>13} {metric}={t.get(metric, float('nan')):.4f} epochs={t['epochs']} {params}"
              + (f" error: {t['error']}" if t.get("error") else ""))
    if result.best is not None:
        print(f"[seqlab] best trial {result.best['trial']}: {metric}={result.best[metric]:.4f}")
    if result.promotion is not None:
        p = result.promotion
        print(f"[seqlab] registry: {p.line()}")
    if result.not_promoted is not None:
        print(f"[seqlab] registry: not promoted: {result.not_promoted}")
    failure = result.failure()
    if failure is not None:
        print(f"[seqlab] error: sweep {result.name}: {failure}", file=sys.stderr)
        return 1
    return 0 if result.best is not None else 1


def get_metric(task: str) -> str:
    from seqlab.tasks import get_task

    return get_task(task).metric


def _cmd_promote(args: argparse.Namespace) -> int:
    from seqlab.tracking.registry import promote
    from seqlab.tracking.runs import resolve_tracking_uri

    p = promote(resolve_tracking_uri(args.tracking_uri), args.task, args.run, args.name, force=args.force)
    print(f"[seqlab] {p.line()}")
    return 0 if p.promoted else 1


def _cmd_pipeline(args: argparse.Namespace) -> int:
    import yaml

    from seqlab.pipeline import load_pipeline, run_pipeline, serve_apps
    from seqlab.runtime.cluster import started_local_ray
    from seqlab.serve.deploy import serve_until_stopped

    cfg, folder = load_pipeline(args.config)  # every referenced file checked before any work
    summary, ok = run_pipeline(args.config, force_promote=args.force, loaded=(cfg, folder))
    print("[seqlab] pipeline summary:\n" + yaml.safe_dump(_with_links(summary), sort_keys=False), flush=True)
    if ok and cfg.deploy and started_local_ray():  # the apps live as long as this process: keep serving
        serve_until_stopped(serve_apps(cfg.serve, folder)[0])
    elif ok and cfg.deploy and (args.block or cfg.block):
        _serve_forever()
    return 0 if ok else 1


def _with_links(summary: dict[str, Any]) -> dict[str, Any]:
    """Add MLflow UI links next to run ids when the store is a server; say how to open it otherwise."""
    from seqlab.tracking.runs import resolve_tracking_uri

    uri = resolve_tracking_uri(None)
    ui = uri if uri.startswith("http") else "http://127.0.0.1:5000"
    summary["mlflow"] = uri if uri.startswith("http") else f"mlflow ui --backend-store-uri {uri}  (then {ui})"
    from seqlab.tasks import TASKS

    for task in TASKS:
        part = summary.get(task)
        if isinstance(part, dict) and part.get("mlflow_run_id"):
            part["mlflow_run"] = f"{ui}/#/runs/{part['mlflow_run_id']}"
    return summary


def _serve_forever() -> None:
    import time

    print("[seqlab] serving; press Ctrl-C to stop", flush=True)
    while True:  # Ctrl-C raises KeyboardInterrupt here; main() stops Ray and exits 130
        time.sleep(3600)


def _cmd_serve(args: argparse.Namespace) -> int:
    from seqlab.serve.deploy import cmd_serve

    return cmd_serve(args)


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "serve": _cmd_serve,
    "pipeline": _cmd_pipeline,
    "tune": _cmd_tune,
    "promote": _cmd_promote,
    "validate": _cmd_validate,
    "data": _cmd_data,
    "train": _cmd_train,
}


def build_parser() -> argparse.ArgumentParser:
    from seqlab.tasks import TASKS

    parser = argparse.ArgumentParser(prog="seqlab", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("validate", help="validate a config (+ overrides) and print it resolved")
    p.add_argument("--config", required=True)
    p.add_argument("overrides", nargs="*", help="dotted key=value, e.g. train.lr=1e-3")

    data = sub.add_parser("data", help="data commands: describe, shards").add_subparsers(
        dest="action", required=True, metavar="ACTION")
    p = data.add_parser("describe", help="per task: sources, splits, coverage, baseline")
    p.add_argument("--config", action="append", default=[],
                   help="describe this config's data instead of its task's defaults (repeatable)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p = data.add_parser("shards", help="write the packaged reviews as sharded files (data.source: files)")
    p.add_argument("--out", required=True, help="a folder or an s3:// prefix (credentials from the environment)")
    p.add_argument("--format", choices=["parquet", "csv", "json"], default="parquet")
    p.add_argument("--files", type=int, default=16, help="number of shards (default 16)")
    p.add_argument("--repeat", type=int, default=1,
                   help="write every review N times, in a seeded order (a larger set for scale benchmarks)")
    p.add_argument("--seed", type=int, default=0)

    p = sub.add_parser("train", help="train one config on Ray Train, tracked in MLflow")
    p.add_argument("--config", required=True)
    p.add_argument("--dashboard", action="store_true", help="start the Ray dashboard with a local Ray")
    p.add_argument("--force-new", action="store_true",
                   help="start afresh even if train.run_name has checkpoints (the old run folder is kept, renamed)")
    p.add_argument("overrides", nargs="*", help="dotted key=value, e.g. train.num_workers=2")

    p = sub.add_parser("tune", help="run a Ray Tune sweep (YAML: base config + search space)")
    p.add_argument("--config", required=True, help="sweep YAML: a base config and a search space")
    p.add_argument("--resume", action="store_true", help="continue the sweep called --name (or the file's name)")
    p.add_argument("--name", default=None, help="the sweep's name (default: from the file, else timestamped)")
    p.add_argument("--scheduler", choices=["asha", "fifo"], default=None, help="override the file's scheduler")
    p.add_argument("--no-promote", action="store_true", help="do not touch the registry")
    p.add_argument("overrides", nargs="*", help="dotted key=value for the sweep file, e.g. num_samples=8")

    from seqlab.serve.deploy import add_serve_parser

    add_serve_parser(sub)

    p = sub.add_parser("pipeline", help="data -> train/sweep -> promote -> deploy, from one YAML")
    p.add_argument("--config", required=True, help="e.g. configs/pipeline.yaml")
    p.add_argument("--block", action="store_true",
                   help="keep serving after the pipeline also on a cluster (on a Ray it starts, it always does)")
    p.add_argument("--force", action="store_true",
                   help="promote each new model even if the champion is better or was validated on other data")

    p = sub.add_parser("promote", help="register a run's model; it becomes champion only if it is better")
    p.add_argument("--task", required=True, choices=sorted(TASKS))
    p.add_argument("--run", required=True, help="MLflow run id")
    p.add_argument("--name", default=None, help="registered model name (default seqlab-<task>)")
    p.add_argument("--tracking-uri", default=None)
    p.add_argument("--force", action="store_true", help="promote even if not better (never overwrites a version)")
    from seqlab.runtime.chatter import add_verbose_flag

    for command in _leaf_parsers(parser):
        add_verbose_flag(command)
    return parser


def _leaf_parsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """The parsers of runnable commands (``train``, ``data describe``), below every level of subcommands."""
    nested = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not nested:
        return [parser]
    return [leaf for action in nested for child in action.choices.values() for leaf in _leaf_parsers(child)]


def _point_at_log() -> None:
    """After a failure: where the other programs' lines of this command are, if any came."""
    from seqlab.runtime.chatter import chatter_log

    log = chatter_log()
    if log is not None and log.opened:
        print(f"[seqlab] other programs' log lines of this command: {log.path}", file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    from seqlab.runtime.chatter import route_chatter

    try:
        parser = build_parser()  # imports the task registry, and with it the modules of SEQLAB_TASK_MODULES
    except SeqlabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    args = parser.parse_args(argv)
    route_chatter(args.command, args.verbose)
    try:
        code = COMMANDS[args.command](args)
    except SeqlabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        _point_at_log()
        return 2
    except KeyboardInterrupt:  # Ctrl-C: runs were closed as KILLED on the way up
        print("[seqlab] interrupted; stopping", file=sys.stderr, flush=True)
        _stop_ray()
        return 130
    except SystemExit as exc:
        if exc.code != signal.SIGTERM:
            raise
        # SIGTERM: the handler ray.init installs exits with code 15. Left to the interpreter's exit, Ray's
        # shutdown ran from atexit, aborted (exit -6) and could leave Serve's HAProxy listening on the ports.
        print("[seqlab] terminated; stopping", file=sys.stderr, flush=True)
        _stop_ray()
        return 128 + signal.SIGTERM
    except BaseException:
        _point_at_log()
        raise
    if code != 0:
        _point_at_log()
    return code


def _stop_ray() -> None:
    """Stop the local Ray this process started (its raylet, workers, Serve); only disconnect from a cluster."""
    import ray

    if ray.is_initialized():
        ray.shutdown()


if __name__ == "__main__":
    sys.exit(main())
