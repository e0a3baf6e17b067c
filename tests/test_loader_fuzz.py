"""Fuzzing the loader: whatever a tree file holds, the outcome is a spec or a TreeFileError.

Seeded from the examples and the bad-file corpus, hypothesis mutates the text
(cuts, copies, swaps, and inserts of YAML and JSON syntax, tags, anchors,
control characters, huge numbers). A short run is part of every test run;
``SUPERVISE_FUZZ_EXAMPLES=20000`` makes a long one.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from supervise import (
    DynamicSupervisorSpec,
    SupervisorSpec,
    TreeFileError,
    TreeFileProblem,
    load_tree_text,
)
from supervise._loader import Format

TESTS = Path(__file__).resolve().parent
EXAMPLES = TESTS.parent / "examples"
SEEDS: list[tuple[str, Format]] = sorted(
    (path.read_text(encoding="utf-8"), "json" if path.suffix == ".json" else "yaml")
    for path in [*EXAMPLES.glob("*.yaml"), *(TESTS / "bad_specs").iterdir()]
    if path.suffix in (".yaml", ".json") and path.stat().st_size < 100_000
)
FRAGMENTS = [
    "\n",
    " ",
    "  ",
    "- ",
    ": ",
    ", ",
    "[",
    "]",
    "{",
    "}",
    '"',
    "'",
    "#",
    "&a ",
    "*a",
    "<<: ",
    "<<: *a\n",
    "!!float ",
    "!!int ",
    "!!bool ",
    "!!timestamp ",
    "!!str ",
    "!!map ",
    "!!set ",
    "!!binary ",
    "!!python/object:os.system ",
    "? ",
    "|\n",
    ">\n",
    "---\n",
    "...\n",
    "%YAML 1.1\n",
    "${X}",
    "${X:-",
    "$$",
    "}",
    "\x00",
    "\x01",
    "\x1b",
    "\ufeff",
    "\ud800",
    "9" * 4400,
    "1e400",
    "-.inf",
    ".nan",
    "0x",
    "0b",
    "0o",
    "~",
    "null",
    "true",
    "yes",
    "kind: ",
    "children: ",
    "child: ",
    "actor: ",
    "task: ",
    "name: ",
    "shutdown: ",
    "args: ",
]


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, Format]:
    """A seed file with a few random edits, and its format (sometimes the wrong one)."""
    text, format = draw(st.sampled_from(SEEDS))
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, len(text)))
        edit = draw(st.sampled_from(["insert", "cut", "copy", "text"]))
        if edit == "insert":
            text = text[:at] + draw(st.sampled_from(FRAGMENTS)) + text[at:]
        elif edit == "cut":
            text = text[:at] + text[at + draw(st.integers(1, 40)) :]
        elif edit == "copy":
            start = draw(st.integers(0, len(text)))
            text = text[:at] + text[start : start + draw(st.integers(1, 200))] + text[at:]
        else:
            text = text[:at] + draw(st.text(max_size=8)) + text[at:]
    if draw(st.integers(0, 9)) == 0:
        format = "json" if format == "yaml" else "yaml"
    return text, format


#: Examples per run: a short run in every test run, a long one on demand.
EXAMPLES_PER_RUN = int(os.environ.get("SUPERVISE_FUZZ_EXAMPLES", "150"))


@pytest.mark.timeout(60 + EXAMPLES_PER_RUN // 10)  # a tenth of a second per example, and more
@settings(
    max_examples=EXAMPLES_PER_RUN,
    deadline=None,  # a loaded CI machine is slow; the file's own limits bound each example
    suppress_health_check=[HealthCheck.too_slow],
)
@given(mutated())
def test_the_loader_gives_a_spec_or_a_tree_file_error(case: tuple[str, Format]) -> None:
    """Any text: a valid root spec, or TreeFileError listing at least one problem."""
    text, format = case
    problems: tuple[TreeFileProblem, ...] = ()
    try:
        spec = load_tree_text(text, format=format, env={}, extra_sys_path=[EXAMPLES, TESTS])
    except TreeFileError as exc:
        problems = exc.problems
    else:
        assert isinstance(spec, SupervisorSpec | DynamicSupervisorSpec)
        return
    assert problems
    assert all(p.message and str(p) for p in problems)
