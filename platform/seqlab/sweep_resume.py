"""A sweep resumes only from the settings it started with.

``seqlab tune --resume`` rebuilds the trials from the sweep file it is given. If that file (or its base config)
changed since the sweep started, the restored trials would mix two sweeps in one table and one champion
choice. So a new sweep stores its resolved content beside Tune's experiment state (``seqlab_sweep.json``) and
its sha256 on the MLflow parent run (tag ``seqlab.sweep_sha256``); a resume compares and names what differs.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from seqlab.config import flatten
from seqlab.errors import ConfigError

if TYPE_CHECKING:
    from seqlab.tune import Sweep


SWEEP_FILE = "seqlab_sweep.json"  # the resolved sweep, beside Tune's experiment state
SWEEP_HASH_TAG = "seqlab.sweep_sha256"


def sweep_content(sweep: Sweep) -> dict[str, Any]:
    """What defines a sweep's trials: the space, searcher, scheduler settings and the resolved base config
    (its name, storage and promotion choice may change on resume)."""
    cfg = sweep.cfg.model_dump(mode="json", exclude={"name", "storage_path", "promote", "base"})
    return {"sweep": cfg, "base": sweep.base_tree}


def sha256_of(content: dict[str, Any]) -> str:
    """sha256 of JSON content with sorted keys."""
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


def check_unchanged(sweep: Sweep, sweep_dir: Path) -> None:
    """Refuse ``--resume`` when the sweep file (or its base config) resolves to other content than it did.

    Raises:
        ConfigError: naming each key that differs, its value then and now.
    """
    stored_file = sweep_dir / SWEEP_FILE
    if not stored_file.is_file():
        raise ConfigError(f"--resume: {sweep_dir} has no {SWEEP_FILE} (a sweep from an older seqlab?); "
                          "start it again under a new name")
    old, new = json.loads(stored_file.read_text()), json.loads(json.dumps(sweep_content(sweep)))
    if sha256_of(old) == sha256_of(new):
        return
    before, now = flatten(old), flatten(new)
    diffs = [f"{k}: then {before.get(k, '(absent)')!r}, now {now.get(k, '(absent)')!r}"
             for k in sorted(set(before) | set(now)) if before.get(k, "(absent)") != now.get(k, "(absent)")]
    raise ConfigError(f"--resume: sweep {sweep_dir.name!r} was started from other settings than {sweep.origin} "
                      "gives now:\n  " + "\n  ".join(diffs or ["(content hash differs)"])
                      + "\nrestore the file, or start a new sweep under another name")
