"""API fuzzing: schemathesis drives every operation of the app's own OpenAPI schema, in process.

Valid and invalid inputs (positive and negative generation), path parameters both random and pointing at
real rows, as an admin token and as an annotator token. Holds when no answer is a 5xx (a 503 from health
is its documented answer) and every documented answer matches its schema. TUNELOOP_FUZZ_EXAMPLES sets the
examples per operation and mode (10 here; `make reliability` runs many more).
"""

from __future__ import annotations

import os
import time

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import response_schema_conformance

from tests.reliability.conftest import World

EXAMPLES = int(os.environ.get("TUNELOOP_FUZZ_EXAMPLES", "10"))
LONG = EXAMPLES > 10
# Shrinking makes a failure's example minimal but costs seconds per failure: only in the long run.
PHASES = [Phase.explicit, Phase.generate] + ([Phase.shrink] if LONG else [])
MODES = (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE)
# Operations whose 503 is their contract: health reports a part that is down (no worker runs here).
MAY_ANSWER_503 = {"GET /api/v1/health"}


def variants(real: dict[str, object]) -> list[tuple[schemathesis.GenerationMode, dict | None]]:
    """Valid input against real rows, invalid input with random path parameters; every pairing in the long run."""
    positive, negative = MODES
    if LONG:
        return [(mode, params) for mode in MODES for params in ([None, real] if real else [None])]
    return [(positive, real or None), (negative, None)]


def real_path_parameters(operation, world: World) -> dict[str, object]:
    """Path parameters of `operation` that name a row the world holds."""
    known = world.path_values
    names = [p.name for p in operation.path_parameters]
    return {n: known[n] for n in names if n in known}


def _run_operation(operation, client, headers: dict[str, str], mode, path_parameters: dict | None,
                   examples: int) -> None:
    label = f"{operation.method.upper()} {operation.path}"
    strategy = operation.as_strategy(generation_mode=mode, path_parameters=path_parameters or None)

    @given(case=strategy)
    @settings(max_examples=examples, deadline=None, database=None, derandomize=True, report_multiple_bugs=False,
              phases=PHASES,
              suppress_health_check=list(HealthCheck))
    def _fuzz(case) -> None:
        response = case.call(session=client, headers=headers)
        if label in MAY_ANSWER_503 and response.status_code == 503:
            return
        case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])

    _fuzz()


# The annotator's calls are mostly refused before any query runs: one database is enough for them.
@pytest.mark.parametrize("caller", ["admin_token",
                                    pytest.param("annotator_token", marks=pytest.mark.one_database("postgresql"))])
def test_every_operation_survives_fuzzing(world: World, app, caller):
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    client = asgi.get_client(app)  # one in-process client for every call, not one per call
    headers = world.callers[caller].headers
    # An annotator is refused most operations before any input is read: fewer examples find as much.
    examples = EXAMPLES if caller == "admin_token" or LONG else max(1, EXAMPLES // 2)
    failures: list[str] = []
    timings: list[tuple[float, str]] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        real = real_path_parameters(operation, world)
        for mode, path_parameters in variants(real):
                started = time.perf_counter()
                try:
                    _run_operation(operation, client, headers, mode, path_parameters, examples)
                except Unsatisfiable:
                    pass  # nothing of this operation can be made invalid (e.g. no parameters but fixed ones)
                except (Exception, BaseExceptionGroup) as exc:  # one operation's failure must not hide others'
                    where = "real ids" if path_parameters else "random path parameters"
                    failures.append(f"--- {operation.method.upper()} {operation.path} ({mode.value}, {where}):\n"
                                    f"{str(exc)[:3000]}")
                timings.append((time.perf_counter() - started, f"{operation.label} {mode.value}"))
    if os.environ.get("TUNELOOP_FUZZ_TIMING"):
        print("\n".join(f"{t:6.2f} s  {label}" for t, label in sorted(timings, reverse=True)[:15]))
    assert operations >= 3, "the schema lists too few operations: is the app's OpenAPI schema broken?"
    assert not failures, f"{len(failures)} fuzzing failures as {caller}:\n" + "\n".join(failures)
