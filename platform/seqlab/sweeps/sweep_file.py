"""A sweep file: a base training config, overrides for every trial and a search space, checked before launch.

    base: ../<task>/<experiment>.yaml
    space: {train.lr: {loguniform: [1.0e-4, 1.0e-2]}, model.embed_dim: {choice: [8, 32], when: {...}}}

``load_sweep`` reads one, resolves the base config, and checks every swept key against the config schema;
``seqlab.sweeps.driver.run_sweep`` runs it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from seqlab.config import apply_overrides, flatten, is_plain_name, read_yaml
from seqlab.errors import ConfigError
from seqlab.sweeps.search_space import check_space, space_problems
from seqlab.tasks import validate_config


class SweepConfig(BaseModel):
    """A sweep file. ``space`` maps dotted config keys to one domain each, e.g. ``{loguniform: [1e-4, 1e-2]}``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    base: str  # a training config; relative paths are resolved from the sweep file's folder, then the cwd
    overrides: dict[str, Any] = Field(default_factory=dict)  # dotted keys applied to the base for every trial
    space: dict[str, dict[str, Any]]  # key -> {<kind>: [...], when: {...}}: seqlab.sweeps.search_space
    searcher: Literal["random", "grid", "optuna"] = "random"
    scheduler: Literal["asha", "fifo"] = "asha"
    num_samples: int = Field(4, ge=1)  # with grid: repeats of the whole grid
    max_concurrent_trials: int = Field(2, ge=1)
    grace_period: int = Field(1, ge=1)  # ASHA: epochs every trial gets before it can be stopped
    reduction_factor: float = Field(2.0, gt=1.0)  # ASHA: keep 1/reduction_factor at each rung
    name: str | None = None  # Tune experiment name; a rerun with --resume continues it
    storage_path: str | None = None
    experiment: str | None = None  # MLflow experiment; None = the base config's tracking.experiment
    promote: bool = True  # register the best trial and move 'champion' if it wins
    seed: int = 0

    @field_validator("name")
    @classmethod
    def _plain_name(cls, name: str | None) -> str | None:
        if name is not None and not is_plain_name(name):  # it becomes a folder under the storage path
            raise ValueError(f"must be a plain folder name (letters, digits, '-', '_', '.'; no '..'), got {name!r}")
        return name

    @model_validator(mode="after")
    def _check(self) -> SweepConfig:
        problems = space_problems(self.space, self.searcher)
        if problems:
            raise ValueError("; ".join(problems))
        return self


@dataclass
class Sweep:
    """A loaded sweep: its config, the base config tree with overrides, and the task."""

    cfg: SweepConfig
    base_tree: dict[str, Any]
    task: str
    origin: str
    trial_keys: list[str] = field(default_factory=list)
    path: str = ""  # the sweep file (its stem names an unnamed sweep)


def load_sweep(path: str | Path, overrides: list[str] | None = None) -> Sweep:
    """Read and check a sweep file, and check every swept key against the config schema.

    Raises:
        ConfigError: an invalid sweep file, an empty or malformed space, an unknown or out-of-range key.
    """
    p = Path(path)
    tree = read_yaml(p)
    if overrides:
        tree = apply_overrides(tree, overrides)
    try:
        sweep_cfg = SweepConfig.model_validate(tree)
    except ValidationError as exc:
        lines = [f"  {'.'.join(str(x) for x in e['loc']) or '(sweep)'}: {e['msg'].removeprefix('Value error, ')}"
                 for e in exc.errors()]
        raise ConfigError(f"invalid sweep ({p}):\n" + "\n".join(lines)) from None
    base_path = Path(sweep_cfg.base)
    for candidate in (p.parent / base_path, base_path, p.parent.parent / base_path):
        if candidate.is_file():
            base_path = candidate
            break
    else:
        raise ConfigError(f"sweep {p}: base config {sweep_cfg.base!r} not found (relative to {p.parent} or the cwd)")
    # flattened, so that {"train": {"epochs": 3}} (from a nested override) sets one key, not the whole section
    base_tree = apply_overrides(read_yaml(base_path), flatten(sweep_cfg.overrides))
    origin = f"{p} (base {base_path})"
    base = validate_config(base_tree, origin)
    check_space(sweep_cfg.space, base_tree, origin)
    return Sweep(sweep_cfg, base_tree, base.task, origin, sorted(sweep_cfg.space), str(p))
