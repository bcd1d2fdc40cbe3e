"""scripts/check_imports.py: seqlab's import graph is a clean stack, and the checker sees what breaks one."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("check_imports", ROOT / "scripts" / "check_imports.py")
assert _spec is not None and _spec.loader is not None
check_imports = importlib.util.module_from_spec(_spec)
sys.modules["check_imports"] = check_imports  # dataclasses look their module up while the class is made
_spec.loader.exec_module(check_imports)


def _write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root / "seqlab"


def test_seqlab_has_no_circle_no_arrow_up_no_reexport_and_a_small_top() -> None:
    report = check_imports.check(ROOT / "platform" / "seqlab", check_imports.caller_files())
    assert report.findings == []
    assert report.modules > 40 and report.arrows > 100  # it did read the package
    assert len(report.top_modules) <= check_imports.MAX_TOP_MODULES


def test_the_command_line_says_so_and_exits_zero() -> None:
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "check_imports.py")],
                         capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "0 findings" in out.stdout


def test_a_lazy_circle_is_found(tmp_path: Path) -> None:
    pkg = _write(tmp_path, {
        "seqlab/__init__.py": '"""top"""\n',
        "seqlab/config.py": "def f():\n    from seqlab.tasks import TASKS\n    return TASKS\n",
        "seqlab/tasks/__init__.py": '"""tasks"""\nfrom seqlab.tasks.one import One\nTASKS = {"one": One}\n',
        "seqlab/tasks/one.py": "from seqlab.config import f\nclass One: ...\n",
    })
    report = check_imports.check(pkg, layers=("config", "tasks"))
    circles = [f for f in report.findings if f.startswith("import circle")]
    assert circles == ["import circle: seqlab.config -> seqlab.tasks -> seqlab.tasks.one"]
    ups = [f for f in report.findings if "arrow up" in f]
    assert len(ups) == 1 and "seqlab.config (config) imports seqlab.tasks (tasks)" in ups[0]


def test_reexports_unknown_wings_missing_docstrings_and_a_crowded_top_are_found(tmp_path: Path) -> None:
    pkg = _write(tmp_path, {
        "seqlab/__init__.py": "",
        "seqlab/errors.py": "class SeqlabError(ValueError): ...\n",
        "seqlab/config.py": "from seqlab.errors import SeqlabError\n__all__ = ['SeqlabError', 'load']\n"
                            "def load(): ...\n",
        "seqlab/cli.py": "from seqlab.config import SeqlabError, load\n",
        "seqlab/extra.py": "from seqlab import errors\n",
        "seqlab/wing/__init__.py": "from seqlab.errors import SeqlabError\n",
    })
    caller = tmp_path / "jobs" / "job.py"
    caller.parent.mkdir()
    caller.write_text("from seqlab.config import load\nfrom seqlab.wing import SeqlabError\nimport seqlab.gone\n")
    report = check_imports.check(pkg, [caller], layers=("errors", "config", "cli"), max_top=4)
    text = "\n".join(report.findings)
    assert "imports 'SeqlabError' from seqlab.config, which does not define it (a re-export)" in text
    assert "imports 'SeqlabError' from seqlab.wing, which does not define it" in text  # the caller's
    assert "'load' from seqlab.config" not in text  # defined there: fine
    assert "__all__ lists 'SeqlabError', which seqlab.config does not define" in text
    assert "wing 'extra' has no place in LAYERS" in text and "wing 'wing' has no place in LAYERS" in text
    assert "wing seqlab.wing has no docstring" in text
    assert "imports seqlab.gone, which does not exist" in text
    assert "5 modules at the package top" in text
    assert not any(f.startswith("import circle") for f in report.findings)
