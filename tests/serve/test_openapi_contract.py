"""The OpenAPI schema of each endpoint states the contract exactly. Schemathesis runs in-process over the ASGI
app with every check (its examples, coverage and fuzzing phases, 100 examples per operation) and finds no
request that the schema allows but the app refuses (or the reverse), no undocumented status code, content
type or body, and no server error.

One rule of the forecast contract is beyond JSON Schema: rows relate to each other (their times must be
``freq_s`` apart, none twice, all with or all without a zone, the predicted time a valid date-time). A
schema-valid body that breaks only such a rule is refused with 422, and ``test_only_cross_row_rules_...``
holds every such refusal to naming one of those rules.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from schemathesis.config._checks import PositiveDataAcceptanceConfig
from schemathesis.engine import events, from_schema
from seqlab.serve.http import make_api
from seqlab.serve.model import ServedModel
from seqlab.serve.service import ModelService
from seqlab.tracking.pyfunc import LoadedModel
from serve_helpers import TASKS, make_state

# What `parse_rows` says when rows break a rule between rows (see the module docstring).
CROSS_ROW_RULES = ("s apart", "duplicate time", "time zone", "9999-12-31")
_REFUSED_POSITIVE: list[tuple[str, str]] = []


@schemathesis.check
def only_cross_row_rules_refuse_schema_valid_rows(ctx: Any, response: Any, case: Any) -> bool | None:
    """A schema-valid forecast body refused with 422 must break a rule between rows, nothing the schema states."""
    meta = case.meta
    if response.status_code != 422 or meta is None or not meta.generation.mode.is_positive:
        return None
    detail = response.json().get("detail")
    _REFUSED_POSITIVE.append((case.operation.label, str(detail)[:200]))
    if not (isinstance(detail, str) and detail.startswith("rows") and any(r in detail for r in CROSS_ROW_RULES)):
        raise AssertionError(f"schema-valid body refused for a rule the schema could state: {detail}")
    return True


def _failures(task: str, tmp_path: Any) -> tuple[list[str], int]:
    svc = ModelService({"task": task, "tracking_uri": f"sqlite:///{tmp_path}/none.db"})
    svc.use(ServedModel(LoadedModel(make_state(task)), f"seqlab-{task}", "1", "run", "champion"))
    schema = schemathesis.openapi.from_asgi("/openapi.json", make_api(svc))
    schema.config.generation.update(max_examples=100)
    if task == "forecast":
        defaults = PositiveDataAcceptanceConfig().expected_statuses
        schema.config.checks.positive_data_acceptance = PositiveDataAcceptanceConfig(
            expected_statuses=[*defaults, "422"]  # only for the rules between rows, checked above
        )
    failures, checked = [], 0
    for event in from_schema(schema).execute():
        if isinstance(event, events.NonFatalError):
            failures.append(f"error: {event.info}")
        if isinstance(event, events.ScenarioFinished):
            for case_id, nodes in event.recorder.checks.items():
                checked += len(nodes)
                for node in nodes:
                    if node.failure_info is not None:
                        case = event.recorder.cases[case_id].value
                        failures.append(f"{event.recorder.label} {node.name}: {node.failure_info.failure.title}: "
                                        f"{node.failure_info.failure.message[:300]} (body {case.body!r:.200})")
    return failures, checked


@pytest.mark.parametrize("task", TASKS)
def test_schemathesis_finds_nothing(task: str, tmp_path: Any) -> None:
    failures, checked = _failures(task, tmp_path)
    assert checked > 300, f"only {checked} checks ran"  # the phases really ran
    assert not failures, "\n".join(sorted(set(failures))[:20])
