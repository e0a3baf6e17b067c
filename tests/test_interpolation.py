"""${VAR} substitution in tree files: the shell's rules, except that unset is an error."""

from __future__ import annotations

import pytest

from supervise._interpolation import InterpolationError, interpolate

ENV = {"HOST": "db.local", "EMPTY": "", "PORT": "5432"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain text", "plain text"),
        ("${HOST}:${PORT}", "db.local:5432"),
        ("${MISSING:-fallback}", "fallback"),
        ("${EMPTY:-fallback}", "fallback"),  # empty counts as unset with :-
        ("${HOST:-fallback}", "db.local"),
        ("${MISSING:-}", ""),
        ("${EMPTY}", ""),  # set but empty, without a default: the empty value
        ("cost: $$5", "cost: $5"),
        ("$$${HOST}", "$db.local"),
        ("a $ alone", "a $ alone"),  # a lone $ is not a reference
    ],
)
def test_references_are_substituted(text: str, expected: str) -> None:
    assert interpolate(text, ENV) == expected


def test_an_unset_variable_without_default_names_it_and_the_fix() -> None:
    with pytest.raises(InterpolationError) as raised:
        interpolate("url: ${DB_URL}", ENV)
    message = str(raised.value)
    assert "DB_URL is not set and has no default" in message
    assert "${DB_URL:-default}" in message


@pytest.mark.parametrize("text", ["${", "${HOST", "${1ABC}", "${HO-ST}", "${}"])
def test_a_malformed_reference_is_refused_with_the_syntax(text: str) -> None:
    with pytest.raises(InterpolationError, match="malformed reference") as raised:
        interpolate(text, ENV)
    assert "${NAME:-default}" in str(raised.value)


def test_substituted_values_are_not_scanned_again() -> None:
    """A value that itself contains ${...} is taken literally, not substituted twice."""
    assert interpolate("${NESTED}", {"NESTED": "${HOST}"}) == "${HOST}"
