"""The cluster launcher files (cluster.yaml for AWS, cluster-local.yaml for on-premise machines).

Validation uses Ray's own rules, offline, with no cloud account:

1. ``ray/autoscaler/ray-schema.json`` (the installed Ray's launcher schema) on the file as written;
2. ``ray.autoscaler._private.util.prepare_config`` + ``validate_config``: what ``ray up`` runs on a config
   before it talks to a provider (merge the provider's defaults.yaml, expand the local provider's node
   list, then the same schema plus cross-field checks). The provider bootstrap that follows in ``ray up``
   (boto3, credentials, the network) is not run.

Step 1 matters on its own: for the local provider, ``prepare_config`` compares ``max_workers`` with the
number of worker IPs before any schema check, so a string there crashes with a TypeError instead of a
message naming the field.

    python -m pytest tests/unit/test_cluster_yaml.py -q
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import ray.autoscaler
import yaml
from ray.autoscaler._private.util import prepare_config, validate_config

ROOT = Path(__file__).resolve().parents[2]
CLUSTER_FILES = ("cluster.yaml", "cluster-local.yaml")
SCHEMA = json.loads((Path(ray.autoscaler.__file__).parent / "ray-schema.json").read_text())

DASHBOARD_HOST = "127.0.0.1"  # reached through `ray dashboard`'s SSH tunnel, never bound to the network
VENV_RAY = "~/seqlab-venv/bin/ray"
COMMAND_LISTS = (
    "initialization_commands",
    "setup_commands",
    "head_setup_commands",
    "worker_setup_commands",
    "head_start_ray_commands",
    "worker_start_ray_commands",
)


def load(name: str) -> dict[str, Any]:
    config = yaml.safe_load((ROOT / name).read_text())
    assert isinstance(config, dict), f"{name} is not a YAML mapping"
    return config


def validate_cluster_config(config: dict[str, Any]) -> dict[str, Any]:
    """Validate a launcher config with Ray's schema, then with the launcher's own prepare + validate.

    Args:
        config: the parsed YAML file.

    Returns:
        The prepared config (defaults merged), as ``ray up`` would go on to bootstrap it.

    Raises:
        jsonschema.ValidationError: a field is unknown, missing or of the wrong type.
    """
    jsonschema.validate(config, SCHEMA)
    prepared = prepare_config(copy.deepcopy(config))
    validate_config(prepared)
    return prepared


def shared_dir(config: dict[str, Any]) -> str:
    """The shared storage mount point: the parent of SEQLAB_STORAGE_PATH in the node environment file."""
    match = re.search(r"export SEQLAB_STORAGE_PATH=(\S+)/ray_results'", " ".join(config["setup_commands"]))
    assert match, "setup_commands must export SEQLAB_STORAGE_PATH=<shared dir>/ray_results"
    return match.group(1)


def install_commands(config: dict[str, Any]) -> list[str]:
    """The setup commands that build the Python environment and install seqlab."""
    return [c for c in config["setup_commands"] if "~/.local/bin/uv" in c]


@pytest.fixture(scope="module", params=CLUSTER_FILES)
def config(request: pytest.FixtureRequest) -> dict[str, Any]:
    return load(request.param)


def test_files_pass_the_launcher_schema_and_validation(config: dict[str, Any]) -> None:
    prepared = validate_cluster_config(config)
    # Every command list is spelled out: none may silently come from the provider's defaults.yaml (AWS's
    # default setup_commands install a nightly Ray wheel; its head_setup_commands a bare `pip install`).
    for key in COMMAND_LISTS:
        assert key in config, f"{key} must be set explicitly (else the launcher default applies)"
    assert prepared["setup_commands"] == config["setup_commands"]
    assert prepared["head_setup_commands"] == config["setup_commands"] + config["head_setup_commands"]
    assert prepared["head_start_ray_commands"] == config["head_start_ray_commands"]


@pytest.mark.parametrize("name", CLUSTER_FILES)
@pytest.mark.parametrize("bad", [{"max_workers": "many"}, {"worker_nodez": {"min_workers": 1}}])
def test_a_bad_field_is_rejected(name: str, bad: dict[str, Any]) -> None:
    broken = load(name) | bad
    with pytest.raises(jsonschema.ValidationError):
        validate_cluster_config(broken)
    # The launcher's own step rejects it too; only the local provider's string max_workers dies earlier,
    # in prepare_config's comparison with the worker list (TypeError), which is why step 1 runs first.
    with pytest.raises((jsonschema.ValidationError, TypeError)):
        validate_config(prepare_config(copy.deepcopy(broken)))


def test_both_files_install_seqlab_the_same_way() -> None:
    aws, local = load("cluster.yaml"), load("cluster-local.yaml")
    assert install_commands(aws) == install_commands(local)
    commands = install_commands(aws)
    assert any("venv" in c and "--python 3.11" in c for c in commands), commands
    assert any("pip install" in c and c.endswith("-e ~/seqlab") for c in commands), commands
    for config in (aws, local):
        assert config["file_mounts"] == {"~/seqlab": "."}
        assert ".venv" in config["rsync_exclude"]  # never ship the local virtualenv


def test_ray_starts_from_the_seqlab_venv_with_token_auth(config: dict[str, Any]) -> None:
    starts = config["head_start_ray_commands"] + config["worker_start_ray_commands"]
    ray_calls = [c for c in starts if re.search(r"\bray (start|stop)\b", c)]
    assert len(ray_calls) == 4
    for command in ray_calls:
        assert re.search(r"(^|\s)" + re.escape(VENV_RAY) + r" (start|stop)\b", command), command
        if " start " in command:
            assert command.startswith("source ~/seqlab.env;"), command
    assert any("'export RAY_AUTH_MODE=token'" in c for c in config["setup_commands"])
    assert any("get-auth-token --generate" in c for c in config["head_setup_commands"])
    assert "~/.ray/auth_token" in config["cluster_synced_files"]
    assert not any("RAY_AUTH_MODE=disabled" in c for key in COMMAND_LISTS for c in config[key])


def test_head_starts_dashboard_on_loopback_and_mlflow_with_one_worker(config: dict[str, Any]) -> None:
    (ray_start,) = [c for c in config["head_start_ray_commands"] if "ray start --head" in c]
    assert f"--dashboard-host={DASHBOARD_HOST}" in ray_start
    assert "0.0.0.0" not in ray_start
    (mlflow,) = [c for c in config["head_start_ray_commands"] if "mlflow server" in c]
    shared = shared_dir(config)
    assert "--workers 1" in mlflow
    assert "MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false" in mlflow
    # the head's private address (what workers log to), never every interface: MLflow has no authentication
    assert "--host $SEQLAB_HEAD_IP --port 5000" in mlflow and mlflow.startswith("source ~/seqlab.env;")
    assert not any("0.0.0.0" in c for key in COMMAND_LISTS for c in config[key])
    (health,) = [c for c in config["head_start_ray_commands"] if "seq 60" in c]
    assert health.startswith("source ~/seqlab.env;") and "http://$SEQLAB_HEAD_IP:5000/health" in health
    head_env = " ".join(config["head_setup_commands"])
    assert "export SEQLAB_HEAD_IP=$(~/seqlab-venv/bin/python -c 'import ray.util; print(ray.util.get_node_ip_address())')" in head_env
    assert "'export MLFLOW_TRACKING_URI=http://$SEQLAB_HEAD_IP:5000'" in head_env
    assert f"--backend-store-uri sqlite:///{shared}/mlflow/mlflow.db" in mlflow
    assert f"--artifacts-destination {shared}/mlflow/artifacts" in mlflow
    assert "nohup" in mlflow and "> ~/mlflow.log 2>&1 < /dev/null &" in mlflow


def test_jobs_get_tracking_uri_and_shared_storage(config: dict[str, Any]) -> None:
    shared = shared_dir(config)
    env_file = " ".join(config["setup_commands"])
    assert f"'export SEQLAB_DATA_DIR={shared}/data'" in env_file
    assert any(f"mkdir -p {shared}/mlflow/artifacts {shared}/ray_results {shared}/data" in c
               for c in config["setup_commands"])
    for key in ("head_setup_commands", "worker_setup_commands"):
        assert any("export MLFLOW_TRACKING_URI=http://" in c and ":5000" in c for c in config[key]), key
    worker_uri = "export MLFLOW_TRACKING_URI=http://$RAY_HEAD_IP:5000"
    assert any(worker_uri in c for c in config["worker_setup_commands"])


def test_aws_has_a_cpu_head_and_autoscaling_gpu_workers() -> None:
    config = load("cluster.yaml")
    types = config["available_node_types"]
    head, workers = types[config["head_node_type"]], types["gpu.worker"]
    assert config["provider"]["type"] == "aws"
    assert "GPU" not in head["resources"]
    assert workers["node_config"]["InstanceType"] == "g5.xlarge"
    assert workers["min_workers"] == 0 and workers["max_workers"] == config["max_workers"] >= 1
    assert workers["resources"]["GPU"] == 1
    assert any(c.startswith("mountpoint -q /home/ubuntu/efs ||") for c in config["worker_start_ray_commands"])


def test_local_provider_lists_its_machines() -> None:
    provider = load("cluster-local.yaml")["provider"]
    assert provider["type"] == "local"
    assert provider["head_ip"] and provider["worker_ips"]


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_every_command_is_valid_bash(config: dict[str, Any]) -> None:
    for key in COMMAND_LISTS:
        for command in config[key]:
            result = subprocess.run(["bash", "-n", "-c", command], check=False, capture_output=True, text=True)
            assert result.returncode == 0, f"{key}: {command!r}: {result.stderr}"


@pytest.mark.parametrize("name", CLUSTER_FILES)
def test_the_auth_token_never_lands_in_the_working_tree(name: str) -> None:
    text = (ROOT / name).read_text()
    config = load(name)
    assert "./.ray_auth_token" not in text and f"~/.ray/{name.removesuffix('.yaml')}.token" in text
    assert ".ray_auth_token" in config["rsync_exclude"]  # not synced to the nodes even if someone saved it
    assert "ssh -N -L 5000:$PRIVATE:5000" in text  # how a laptop reaches MLflow on the private address


def test_a_token_in_the_tree_is_left_out_of_job_uploads(tmp_path: Path) -> None:
    """Ray's own packaging of ``--working-dir .`` (what ``ray job submit`` uploads) on a copy of our .gitignore."""
    from ray._private.runtime_env.packaging import _zip_files

    (tmp_path / ".gitignore").write_text((ROOT / ".gitignore").read_text())
    (tmp_path / ".ray_auth_token").write_text("secret")
    (tmp_path / "jobs").mkdir()
    (tmp_path / "jobs" / "train.py").write_text("print('ok')")
    out = tmp_path.parent / f"{tmp_path.name}.zip"
    _zip_files(str(tmp_path), [], str(out), include_gitignore=True)
    import zipfile

    names = set(zipfile.ZipFile(out).namelist())
    assert "jobs/train.py" in names and ".ray_auth_token" not in names, names
    assert ".ray_auth_token" in (ROOT / "README.md").read_text()  # documented
