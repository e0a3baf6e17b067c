"""The curated public API."""

from __future__ import annotations

import json
import subprocess
import sys

import supervise
from supervise import events, spec, testing


def test_all_is_sorted_and_complete() -> None:
    """__all__ is sorted, every name exists and is public under `supervise`."""
    assert supervise.__all__ == sorted(supervise.__all__, key=str)
    for name in supervise.__all__:
        obj = getattr(supervise, name)
        module = getattr(obj, "__module__", "supervise")
        assert not module.startswith("supervise._"), name


def test_public_objects_report_the_public_module() -> None:
    """Tracebacks show supervise.StartError, not supervise._errors.StartError."""
    assert supervise.StartError.__module__ == "supervise"
    assert repr(supervise.Restart.PERMANENT).startswith("<Restart.PERMANENT")


def test_errors_share_one_base() -> None:
    """Every exception supervise raises derives from SuperviseError.

    Not the signals that user code raises to the runtime (`Ignore`): they are not errors.
    """
    signals = {supervise.Exit, supervise.Ignore}
    errors = [
        getattr(supervise, n)
        for n in supervise.__all__
        if isinstance(getattr(supervise, n), type)
        and issubclass(getattr(supervise, n), BaseException)
        and getattr(supervise, n) not in signals
    ]
    assert len(errors) >= 12
    assert all(issubclass(e, supervise.SuperviseError) for e in errors)
    assert issubclass(supervise.CallTimeoutError, TimeoutError)
    assert issubclass(supervise.SpecError, ValueError)


def test_event_catalogue_names_are_unique_snake_case() -> None:
    """Each event name is defined once, in snake_case, and includes the required ones."""
    names = [e.value for e in events.Event]
    assert len(names) == len(set(names))
    assert all(n == n.lower() and " " not in n for n in names)
    assert {
        "actor_started",
        "actor_stopped",
        "actor_crashed",
        "actor_restarted",
        "start_failed",
        "restart_intensity_exceeded",
        "supervisor_started",
        "supervisor_stopped",
        "message_dead_lettered",
    } <= set(names)


def test_public_submodules() -> None:
    """spec, events and testing are public namespaces."""
    assert spec.SupervisorSpec is supervise.SupervisorSpec
    assert callable(testing.capture_events)


#: The least share of the public API whose types pyright can see in full (trio checks the same).
TYPE_COMPLETENESS = 0.98


def test_pyright_sees_the_public_api_typed() -> None:
    """`pyright --verifytypes supervise`: public names, parameters and attributes have known types.

    Unknown types from other packages (pydantic's) are not ours to fix and are ignored.
    """
    command = [sys.executable, "-m", "pyright", "--verifytypes", "supervise", "--ignoreexternal"]
    result = subprocess.run(
        [*command, "--outputjson"], capture_output=True, text=True, timeout=300, check=False
    )
    assert result.stdout, (
        f"pyright did not run (is it installed? pip install -e '.[dev]'):\n{result.stderr}"
    )
    report = json.loads(result.stdout)
    score = report["typeCompleteness"]["completenessScore"]
    problems = "\n".join(
        f"{d.get('file', '')}: {d['message']}"
        for d in report["generalDiagnostics"]
        if d["severity"] == "error"
    )
    assert score >= TYPE_COMPLETENESS, (
        f"type completeness {score:.1%} < {TYPE_COMPLETENESS:.0%}; annotate these "
        f"(run `{' '.join(command[2:])}`):\n{problems}"
    )
