"""seqlab.runtime.background: a call on a helper thread whose value or error the caller takes later."""

from __future__ import annotations

import threading
import time

import pytest

from seqlab.runtime.background import InBackground
from seqlab.errors import DataError


def test_result_is_the_calls_value_and_the_call_ran_on_another_thread() -> None:
    main = threading.get_ident()
    job = InBackground(lambda: threading.get_ident())
    assert job.result() != main


def test_the_call_runs_while_the_caller_works() -> None:
    started = time.perf_counter()
    job = InBackground(lambda: time.sleep(0.3) or "done")
    time.sleep(0.3)  # the caller's own work, at the same time
    assert job.result() == "done"
    assert time.perf_counter() - started < 0.55


def test_the_calls_error_is_raised_in_the_caller_as_it_was() -> None:
    def fails() -> None:
        raise DataError("data.path: /nowhere/reviews.csv does not exist")

    job = InBackground(fails)
    with pytest.raises(DataError, match="/nowhere/reviews.csv"):
        job.result()
