"""Configs: every shipped YAML validates; bad keys, values and overrides fail with the key, value and allowed."""

from __future__ import annotations

from pathlib import Path

import pytest

from seqlab.cli import main
from seqlab.config import apply_overrides
from seqlab.tasks import load_config
from seqlab.errors import ConfigError, SeqlabError

ROOT = Path(__file__).resolve().parents[2]
# Files that are not training configs have their own loaders, and tests of their own.
NOT_TRAINING = {"serve.yaml", "pipeline.yaml"}
TRAINING_YAMLS = sorted(p for p in (ROOT / "configs").rglob("*.yaml")
                        if p.name not in NOT_TRAINING and not p.name.startswith("sweep"))


def test_there_are_configs_for_every_chapter_experiment() -> None:
    names = {f"{p.parent.name}/{p.stem}" for p in TRAINING_YAMLS}
    assert {"sentiment/flatten", "sentiment/glove_200", "sentiment/learned_200", "sentiment/conv1d",
            "sentiment/lstm", "sentiment/tiny", "forecast/dense", "forecast/gru", "forecast/gru_dropout",
            "forecast/stacked", "forecast/bidirectional", "forecast/conv1d", "forecast/conv1d_gru",
            "forecast/tiny"} <= names


@pytest.mark.parametrize("path", TRAINING_YAMLS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_training_yaml_validates(path: Path) -> None:
    cfg = load_config(path)
    assert cfg.task == path.parent.name


def test_overrides_merge_before_validation() -> None:
    cfg = load_config(ROOT / "configs/forecast/tiny.yaml", ["train.lr=1e-3", "train.num_workers=2", "model.bidirectional=true"])
    assert cfg.train.lr == 1e-3 and cfg.train.num_workers == 2 and cfg.model.bidirectional is True


def test_every_error_of_one_config_is_reported_together() -> None:
    with pytest.raises(ConfigError) as err:
        load_config(ROOT / "configs/sentiment/tiny.yaml",
                    ["train.lr=-0.1", "model.nme=gru", "data.maxlen=0", "model.name=transformer"])
    text = str(err.value)
    assert "configs/sentiment/tiny.yaml" in text
    assert "train.lr: Input should be greater than 0, got -0.1" in text
    assert "model.nme: unknown key; allowed here:" in text and "name" in text
    assert "data.maxlen" in text and "got 0" in text
    assert "model.name" in text and "'transformer'" in text and "'lstm'" in text


def test_unknown_task_lists_the_tasks() -> None:
    with pytest.raises(ConfigError, match="unknown task 'sentimnet'; choose one of: forecast, sentiment"):
        load_config(None, {"task": "sentimnet"})


def test_cross_field_rules() -> None:
    with pytest.raises(ConfigError, match="data.step .* must be <= data.lookback"):
        load_config(None, {"task": "forecast", "data.lookback": 4, "data.step": 6, "data.delay": 24})
    with pytest.raises(ConfigError, match="freeze_embedding=true needs model.embedding='glove'"):
        load_config(None, {"task": "sentiment", "model.freeze_embedding": True})
    with pytest.raises(ConfigError, match="embed_dim must be 50"):
        load_config(None, {"task": "sentiment", "model.embedding": "glove", "model.embed_dim": 100})
    with pytest.raises(ConfigError, match="data.path is required"):
        load_config(None, {"task": "sentiment", "data.source": "csv"})
    with pytest.raises(ConfigError, match="lookback"):
        load_config(None, {"task": "forecast", "data.lookback": 0})


def test_bad_override_syntax_and_files() -> None:
    with pytest.raises(ConfigError, match="must look like key.path=value"):
        apply_overrides({}, ["train.lr"])
    with pytest.raises(ConfigError, match="'train.lr' is a value, not a section"):
        apply_overrides({"train": {"lr": 1}}, ["train.lr.x=2"])
    with pytest.raises(ConfigError, match="config file not found"):
        load_config("configs/nope.yaml")


def test_yaml_errors_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("task: [sentiment\n")
    with pytest.raises(ConfigError, match="bad.yaml is not valid YAML"):
        load_config(bad)
    bad.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_config(bad)


def test_errors_cross_processes_intact() -> None:
    import pickle

    err = ConfigError("train.lr must be > 0")
    again = pickle.loads(pickle.dumps(err))
    assert type(again) is ConfigError and str(again) == "train.lr must be > 0" and isinstance(again, SeqlabError)


def test_cli_validate_prints_resolved_config_and_rejects_typos(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "--config", str(ROOT / "configs/forecast/tiny.yaml"), "train.epochs=7"]) == 0
    assert "epochs: 7" in capsys.readouterr().out
    assert main(["validate", "--config", str(ROOT / "configs/forecast/tiny.yaml"), "trian.epochs=7"]) == 2
    assert "trian: unknown key" in capsys.readouterr().err
