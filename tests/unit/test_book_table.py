"""benchmarks/book_table.py writes its table into a markdown page and keeps the prose around it.

    python -m pytest tests/unit/test_book_table.py -q
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def book_table() -> ModuleType:
    """The script as a module; the environment variables it sets for its own Ray are put back."""
    before = dict(os.environ)
    spec = importlib.util.spec_from_file_location("book_table", ROOT / "benchmarks" / "book_table.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["book_table"] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    os.environ.clear()
    os.environ.update(before)
    return module


def rows(bt: ModuleType) -> list:
    lstm = bt.Row("lstm", "IMDB LSTM(32)", "sentiment", 0.89, "", [], val=0.881, test=0.8764, epochs=10,
                  seconds=301.4)
    base = bt.Row("baseline", "weather common-sense baseline", "forecast", 0.29, "", val=0.25, val_degrees=4.3,
                  test=0.3965, test_degrees=6.8, baseline=0.25, test_baseline=0.3965, seconds=1.0,
                  unit="degF")
    gru = bt.Row("gru", "weather GRU(32)", "forecast", 0.265, "", ["train.epochs=5"],
                 error="DataError: no | rows")
    return [lstm, base, gru]


def test_markdown_table_has_a_row_per_experiment(book_table: ModuleType) -> None:
    table = book_table.markdown_table(rows(book_table))
    lines = table.strip().splitlines()
    assert len(lines) == 2 + 3 and all(line.count("|") == 8 for line in lines)  # an error's "|" is escaped
    assert "| IMDB LSTM(32) | `sentiment/lstm.yaml` | 0.89 acc | 0.881 acc | 0.876 acc | 10 | 301 |" in lines
    assert "0.397 1.00xb 6.80 degF" in lines[3] and "2.57 degC" in lines[3]
    assert "`forecast/gru.yaml` `train.epochs=5`" in lines[4] and "FAILED" in lines[4]


def test_write_markdown_replaces_only_the_table(book_table: ModuleType, tmp_path: Path) -> None:
    page = tmp_path / "chapter.md"
    book_table.write_markdown(page, "python benchmarks/book_table.py --quick", ["note one"], rows(book_table))
    first = page.read_text()
    assert first.startswith(book_table.MARK_START)
    assert "Produced by `python benchmarks/book_table.py --quick`" in first
    page.write_text("# The chapter\n\nprose before\n\n" + first + "\nprose after\n")
    book_table.write_markdown(page, "python benchmarks/book_table.py", ["note two"], rows(book_table)[:1])
    text = page.read_text()
    assert text.startswith("# The chapter\n\nprose before\n\n") and text.endswith("\nprose after\n")
    assert "note two" in text and "note one" not in text and "GRU" not in text
    assert text.count(book_table.MARK_START) == 1 and text.count(book_table.MARK_END) == 1
