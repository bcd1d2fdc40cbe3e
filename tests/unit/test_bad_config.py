"""Bad input table, config and CLI surface: each case is refused at load time with a message that names the key
(and the value received), before any Ray or MLflow work.

    python -m pytest tests/unit/test_bad_config.py -q
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from seqlab.cli import main
from seqlab.tasks import load_config
from seqlab.errors import ConfigError
from seqlab.sweeps.sweep_file import load_sweep

ROOT = Path(__file__).resolve().parents[2]
TINY = {"sentiment": ROOT / "configs/sentiment/tiny.yaml", "forecast": ROOT / "configs/forecast/tiny.yaml"}

# (task, override, text the message must hold: the key, and where useful the value)
CONFIG_CASES = [
    ("forecast", "train.seed=-1", "train.seed"),
    ("forecast", "train.seed=4294967296", "train.seed"),
    ("forecast", "data.seed=-1", "data.seed"),
    ("sentiment", "data.seed=-1", "data.seed"),
    ("sentiment", "data.seed=4294967296", "data.seed"),
    ("forecast", "train.weight_decay=.inf", "train.weight_decay"),
    ("sentiment", "train.weight_decay=.nan", "train.weight_decay"),
    ("forecast", "train.cpus_per_worker=.inf", "train.cpus_per_worker"),
    ("sentiment", "model.hidden=100000", "model.hidden"),
    ("forecast", "model.hidden=100000", "model.hidden"),
    ("sentiment", "model.hash_buckets=1073741824", "model.hash_buckets"),
    ("forecast", "train.run_name=../x", "train.run_name"),
    ("forecast", "train.run_name=/tmp/abs", "train.run_name"),
    ("sentiment", "train.run_name=a/b", "train.run_name"),
    ("sentiment", "train.run_name=a..b", "train.run_name"),
    ("sentiment", "train.run_name=.hidden", "train.run_name"),
    ("forecast", "train.lr=.nan", "train.lr"),
    ("forecast", "train.epochs=0", "train.epochs"),
    ("sentiment", "trian.epochs=2", "trian"),
    ("sentiment", "data.maxlen=0", "data.maxlen"),
    ("sentiment", "train.batch_size=abc", "train.batch_size"),
    ("forecast", "train.force_new=maybe", "train.force_new"),
    ("sentiment", "model.name=transformer", "model.name"),
]


@pytest.mark.parametrize(("task", "override", "names"), CONFIG_CASES, ids=[c[1] for c in CONFIG_CASES])
def test_bad_config_value_names_the_key(task: str, override: str, names: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(TINY[task], [override])
    message = str(err.value)
    assert f"{names}:" in message or f"'{names}'" in message, message
    assert override.partition("=")[2].strip("/") in message or "unknown key" in message, message


@pytest.mark.parametrize("name", ["run-1", "sentiment_gru.v2", "A9"])
def test_plain_run_names_pass(name: str) -> None:
    assert load_config(TINY["forecast"], [f"train.run_name={name}"]).train.run_name == name


CLI_CASES = [
    (["train", "--config", str(TINY["forecast"]), "train.run_name=../escape"], "train.run_name"),
    (["train", "--config", str(TINY["forecast"]), "train.seed=-1"], "train.seed"),
    (["validate", "--config", "no/such/file.yaml"], "no/such/file.yaml"),
    (["validate", "--config", str(TINY["forecast"]), "train.lr"], "override 'train.lr'"),
]


@pytest.mark.parametrize(("argv", "names"), CLI_CASES, ids=[" ".join(c[0][2:])[-40:] for c in CLI_CASES])
def test_cli_refuses_with_exit_2_naming_the_key(argv: list[str], names: str,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2  # before any Ray: this unit test starts none
    assert names in capsys.readouterr().err


@pytest.mark.parametrize(("change", "names"), [({"name": "../up"}, "name"), ({"name": "/abs"}, "name"),
                                               ({"num_samples": 0}, "num_samples")])
def test_bad_sweep_file_names_the_key(tmp_path: Path, change: dict[str, object], names: str) -> None:
    tree = yaml.safe_load((ROOT / "configs/forecast/sweep_tiny.yaml").read_text())
    tree["base"] = str(TINY["forecast"])
    tree.update(change)
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(tree))
    with pytest.raises(ConfigError) as err:
        load_sweep(path)
    assert f"  {names}:" in str(err.value), str(err.value)


@pytest.mark.parametrize(("change", "names"), [({"num_samples": 5}, "sweep.num_samples"),
                                               ({"space": {"train.lr": {"choice": [0.1]}}}, "sweep.space.train.lr"),
                                               ({"overrides": {"train.epochs": 7}}, "base.train.epochs")])
def test_resume_with_a_changed_sweep_file_is_refused(tmp_path: Path, change: dict[str, object], names: str) -> None:
    from seqlab.sweeps.resume import SWEEP_FILE, sweep_content
    from seqlab.sweeps.driver import run_sweep

    tree = yaml.safe_load((ROOT / "configs/forecast/sweep_tiny.yaml").read_text())
    tree.update(base=str(TINY["forecast"]), storage_path=str(tmp_path), name="kept")
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(tree))
    folder = tmp_path / "kept"  # what a started sweep leaves: its parent run id and its resolved content
    folder.mkdir()
    (folder / "seqlab_parent_run_id").write_text("0" * 32)
    (folder / SWEEP_FILE).write_text(json.dumps(sweep_content(load_sweep(path))))
    tree.update(change)
    path.write_text(yaml.safe_dump(tree))
    with pytest.raises(ConfigError) as err:
        run_sweep(load_sweep(path), resume=True)  # refused before Ray: this unit test starts none
    assert f"  {names}" in str(err.value) and "then " in str(err.value), str(err.value)
