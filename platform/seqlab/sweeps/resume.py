"""A sweep resumes only from the settings it started with.

``seqlab tune --resume`` rebuilds the trials from the sweep file it is given. If that file (or its base config)
changed since the sweep started, the restored trials would mix two sweeps in one table and one champion
choice. So a new sweep stores its resolved content beside Tune's experiment state (``seqlab_sweep.json``) and
its sha256 on the MLflow parent run (tag ``seqlab.sweep_sha256``); a resume compares and names what differs.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickletools
from pathlib import Path
from typing import TYPE_CHECKING, Any

from seqlab.config import flatten
from seqlab.errors import ConfigError

if TYPE_CHECKING:
    from seqlab.sweeps.sweep_file import Sweep


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


def recover_missing_checkpoints(sweep_dir: Path) -> list[str]:
    """Point every trial of a killed sweep at a checkpoint that exists, before Tune restores it.

    Tune keeps one checkpoint per trial (``CheckpointConfig(num_to_keep=1)``): registering checkpoint k+1
    deletes checkpoint k at once, while the experiment state that names checkpoint k is rewritten only at the
    next snapshot (at most once a second). A driver killed between the two leaves a state naming a deleted
    directory, and Tune fails that trial on resume ("Could not recover from checkpoint as it does not exist").
    The trial's newer checkpoint is still there: it is a later state of the same trial, and the trial resumes
    from the epoch it holds. So each missing checkpoint is replaced by the newest one of its trial folder that
    loads; a trial with none keeps its missing checkpoint (Tune then reports the trial as errored).

    Returns:
        One line per replaced checkpoint, ``<trial id>: <name> from <name>``.
    """
    import shutil

    from ray.tune import ExperimentAnalysis

    from seqlab.checkpoint import load_state
    from seqlab.errors import CheckpointError

    if not any(sweep_dir.glob(_STATE_PATTERNS[0].format("*"))):  # killed before Tune's first snapshot
        return []
    recovered = []
    for trial in ExperimentAnalysis(str(sweep_dir)).trials:
        named = trial.checkpoint
        if named is None or Path(named.path).exists():
            continue
        wanted = Path(named.path)
        for candidate in sorted(wanted.parent.glob("checkpoint_*"), reverse=True):  # newest first
            try:
                load_state(candidate)
            except CheckpointError:  # half-written by an actor that died with its driver
                continue
            shutil.move(str(candidate), str(wanted))
            recovered.append(f"{trial.trial_id}: {wanted.name} from {candidate.name}")
            break
    return recovered


#: the files Tune restores a sweep from, one set per Tune session (the suffix is its start time)
_STATE_PATTERNS = ("experiment_state-{}.json", "basic-variant-state-{}.json", "searcher-state-{}.pkl")


def _intact(path: Path) -> bool:
    """A whole JSON document (the experiment state), or a pickle that runs to its STOP opcode (the searcher
    states, whatever their suffix: Tune pickles into ``basic-variant-state-*.json``), checked without unpickling."""
    data = path.read_bytes()
    try:
        if path.name.startswith("experiment_state-"):
            json.loads(data)
            return bool(data.strip())
        return [op.name for op, _, _ in pickletools.genops(data)][-1:] == ["STOP"]
    except Exception:  # noqa: BLE001  (a cut file fails in json or pickletools with many kinds of error)
        return False


def _staging_roots() -> list[Path]:
    """Where Ray keeps each session's files on this machine (``ray start --temp-dir``, default /tmp/ray)."""
    roots = []
    try:
        import ray

        node = ray._private.worker._global_node  # the session this process is connected to
        if node is not None:
            roots.append(Path(node.get_session_dir_path()).parent)
    except Exception:  # noqa: BLE001, S110  (private Ray attribute; if it moved, use the default location)
        pass
    roots.append(Path(os.environ.get("RAY_TMPDIR", "/tmp")) / "ray")
    return list(dict.fromkeys(roots))


def repair_state_files(sweep_dir: Path, roots: list[Path] | None = None) -> list[str]:
    """Make the experiment state that Tune restores from whole again after a killed driver.

    Tune writes its state (trials, searcher) on the driver's machine, under Ray's session folder, and copies
    it to the sweep folder in the background after each snapshot; the copy is not atomic, so a driver killed
    during it leaves a cut (often empty) file there. Tune then fails to read it, logs "Restarting experiment"
    and starts the whole sweep afresh. So before a resume, the files of the newest Tune session are checked;
    if one is cut, the whole set of that session is taken from the driver's own copy when it is on this
    machine and whole. Otherwise the resume is refused: nothing is restarted or overwritten.

    Raises:
        ConfigError: a state file is cut and no whole copy is found.
    """
    states = sorted(sweep_dir.glob(_STATE_PATTERNS[0].format("*")))
    if not states:
        return []
    session = states[-1].name[len("experiment_state-"):-len(".json")]
    files = [sweep_dir / p.format(session) for p in _STATE_PATTERNS]
    files = [f for f in files if f.exists()]
    cut = [f.name for f in files if not _intact(f)]
    if not cut:
        return []
    for root in roots if roots is not None else _staging_roots():
        found = root.glob(f"session_*/artifacts/*/{sweep_dir.name}/driver_artifacts")
        for staging in sorted((p for p in found if p.parents[3].name != "session_latest"), reverse=True):
            copies = [staging / f.name for f in files]
            if all(c.is_file() and _intact(c) for c in copies):
                for copy, f in zip(copies, files):
                    tmp = f.with_name(f".{f.name}.tmp")
                    tmp.write_bytes(copy.read_bytes())
                    tmp.replace(f)
                return [f"{f.name} from {staging}" for f in files]
    raise ConfigError(f"--resume: sweep {sweep_dir.name!r}: Tune's state file(s) {', '.join(cut)} in {sweep_dir} "
                      "are cut short (the driver was killed while copying them) and no whole copy of them is on "
                      "this machine; the sweep cannot resume: start it again under a new name")
