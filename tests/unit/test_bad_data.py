"""Bad input table, data-file surface: a broken CSV is refused by the task's ``prepare`` (what training runs
first, before any Ray work) with a DataError that names the file and the column/row at fault.

    python -m pytest tests/unit/test_bad_data.py -q
"""

from __future__ import annotations

from pathlib import Path

import pytest

from seqlab.tasks import load_config
from seqlab.errors import DataError
from seqlab.tasks import get_task

ROOT = Path(__file__).resolve().parents[2]
GOOD_TIMES = "\n".join(f"2020-01-01T{h:02d}:00:00,{h}.5,1000" for h in range(24))

# (task, file content or None for a missing file, extra overrides, texts the message must hold)
CASES: list[tuple[str, str, bytes | None, list[str], list[str]]] = [
    ("reviews missing file", "sentiment", None, [], ["not found"]),
    ("reviews no label column", "sentiment", b"text,stars\ngood film,5\nbad film,1\n", [], ["label"]),
    ("reviews bad label", "sentiment", b"text,label\ngood film,1\nbad film,maybe\n", [], ["label", "maybe"]),
    ("reviews empty text", "sentiment", b"text,label\ngood film,1\n   ,0\n", [], ["empty"]),
    ("reviews header only", "sentiment", b"text,label\n", [], ["no reviews"]),
    ("weather missing file", "forecast", None, [], ["not found"]),
    ("weather no time column", "forecast", b"when,temp,pressure\n" + GOOD_TIMES.encode(), [], ["time"]),
    ("weather bad time", "forecast", b"time,temp,pressure\nyesterday,1.0,1000\n" + GOOD_TIMES.encode(), [],
     ["time", "yesterday"]),
    ("weather bad number", "forecast", b"time,temp,pressure\n" + GOOD_TIMES.replace("3.5", "warm").encode(), [],
     ["temp", "warm"]),
    ("weather no target", "forecast", b"time,temperature,pressure\n" + GOOD_TIMES.encode(), [], ["temp"]),
    ("weather one row", "forecast", b"time,temp,pressure\n2020-01-01T00:00:00,1.0,1000\n", [], ["2 rows"]),
    ("weather unknown feature", "forecast", b"time,temp,pressure\n" + GOOD_TIMES.encode(),
     ["data.features=[temp, humidity]"], ["humidity"]),
]


@pytest.mark.parametrize(("case", "task", "content", "overrides", "names"), CASES, ids=[c[0] for c in CASES])
def test_bad_data_file_names_the_file_and_the_field(tmp_path: Path, case: str, task: str, content: bytes | None,
                                                    overrides: list[str], names: list[str]) -> None:
    path = tmp_path / "data.csv"
    if content is not None:
        path.write_bytes(content)
    extra = ["data.lookback=4", "data.step=1", "data.delay=1"] if task == "forecast" else []
    cfg = load_config(ROOT / "configs" / task / "tiny.yaml",
                      ["data.source=csv", f"data.path={path}", *extra, *overrides])
    with pytest.raises(DataError) as err:
        get_task(task).prepare(cfg)
    message = str(err.value)
    assert str(path) in message or "data.path" in message, message
    for text in names:
        assert text in message, message
