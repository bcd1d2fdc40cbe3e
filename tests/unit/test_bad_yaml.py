"""Every YAML file seqlab reads goes through one hardened loader: no key twice, bounded depth, size and error
text (issue 17, item 2). Each case was a traceback, an out-of-memory or a silent acceptance before."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from seqlab.config import MAX_YAML_BYTES, MAX_YAML_DEPTH, read_yaml
from seqlab.errors import ConfigError
from seqlab.pipeline import load_pipeline
from seqlab.serve.deploy import load_serve_file
from seqlab.sweeps.sweep_file import load_sweep
from seqlab.tasks import load_config

# 605 bytes: nine levels of nine aliases each, 9^9 (387 million) strings once expanded
ALIAS_BOMB = "task: sentiment\n" + "a0: &a0 [lol]\n" + "".join(
    f"a{i}: &a{i} [{', '.join(f'*a{i - 1}' for _ in range(9))}]\n" for i in range(1, 9)
) + "train: {lr: *a8}\n"


def _write(tmp_path: Path, text: str | bytes, name: str = "cfg.yaml") -> Path:
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


def test_a_key_given_twice_is_refused_with_both_lines(tmp_path: Path) -> None:
    # before: the second train: block silently replaced the first
    path = _write(tmp_path, "task: sentiment\ntrain:\n  lr: 0.1\nmodel:\n  name: gru\ntrain:\n  epochs: 2\n")
    with pytest.raises(ConfigError, match=r"key 'train' given twice \(lines 2 and 6\); keep one"):
        load_config(path)


def test_an_alias_bomb_is_refused_quickly(tmp_path: Path) -> None:
    # before: formatting the error's `got {value!r}` expanded it and ran out of memory
    path = _write(tmp_path, ALIAS_BOMB)
    t0 = time.perf_counter()
    with pytest.raises(ConfigError, match=r"more than 100,000 values \(with aliases expanded\)"):
        load_config(path)
    assert time.perf_counter() - t0 < 5


def test_deep_nesting_is_refused_not_a_recursion_error(tmp_path: Path) -> None:
    # before: RecursionError out of PyYAML's composer (3,000 levels), or a tree too deep to validate
    deep = _write(tmp_path, "task: sentiment\nx: " + "[" * 3000 + "]" * 3000 + "\n")
    with pytest.raises(ConfigError, match="nested deeper than"):
        load_config(deep)
    moderate = _write(tmp_path, "task: sentiment\nx: " + "[" * (MAX_YAML_DEPTH + 2) + "]" * (MAX_YAML_DEPTH + 2) + "\n",
                      "moderate.yaml")
    with pytest.raises(ConfigError, match=f"nested deeper than {MAX_YAML_DEPTH} levels"):
        load_config(moderate)


def test_too_large_and_not_utf8_files_are_named(tmp_path: Path) -> None:
    big = _write(tmp_path, "task: sentiment\n# " + "x" * MAX_YAML_BYTES + "\n", "big.yaml")
    with pytest.raises(ConfigError, match=r"big.yaml is larger than 1024 KiB"):
        read_yaml(big)
    latin = _write(tmp_path, b"task: sentiment\n# caf\xe9\n", "latin.yaml")
    with pytest.raises(ConfigError, match=r"latin.yaml is not UTF-8 text \(byte 22, counted from 1\)"):
        read_yaml(latin)


def test_a_long_bad_value_is_shown_shortened(tmp_path: Path) -> None:
    path = _write(tmp_path, "task: sentiment\ntrain:\n  lr: " + "9" * 5000 + "x\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert "more characters)" in str(caught.value) and len(str(caught.value)) < 1000


@pytest.mark.parametrize("reader, what", [
    (lambda p: load_sweep(p), "config file"),
    (lambda p: load_pipeline(p), "config file"),
    (lambda p: load_serve_file(p), "serve config"),
])
def test_sweep_pipeline_and_serve_files_use_the_same_loader(tmp_path: Path, reader, what: str) -> None:  # type: ignore[no-untyped-def]
    path = _write(tmp_path, "a: 1\nb: 2\na: 3\n", "twice.yaml")
    with pytest.raises(ConfigError, match=rf"{what} .*twice.yaml is not valid YAML: .*key 'a' given twice"):
        reader(path)
    bomb = _write(tmp_path, ALIAS_BOMB, "bomb.yaml")
    with pytest.raises(ConfigError, match="more than 100,000 values"):
        reader(bomb)
