"""``${VAR}`` and ``${VAR:-default}`` in tree files: substitution from the environment.

The rules, as in the shell: ``${VAR}`` is VAR's value; ``${VAR:-default}`` is
the default when VAR is unset *or empty*; ``$$`` is a literal ``$``. Unlike the
shell, ``${VAR}`` with VAR unset is an error, not an empty string: a silently
empty value is the harder bug to find.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

_INTERPOLATION = re.compile(
    r"\$(?:(?P<dollar>\$)|\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\})"
)
_ANY_REFERENCE = re.compile(r"\$(\$|\{[^}]*\}?)")


class InterpolationError(Exception):
    """A reference cannot be substituted; the message says which and what to write."""


def interpolate(text: str, env: Mapping[str, str]) -> str:
    """Substitute ``${VAR}``, ``${VAR:-default}`` and ``$$`` (a literal ``$``).

    Raises:
        InterpolationError: a variable is unset without default, or a ``${`` is malformed.
    """
    if "$" not in text:
        return text
    for match in _ANY_REFERENCE.finditer(text):
        if not _INTERPOLATION.fullmatch(match.group(0)):
            raise InterpolationError(
                f"malformed reference {match.group(0)!r}; write ${{NAME}} or "
                f"${{NAME:-default}} (NAME of letters, digits and _), or $$ for a literal $"
            )

    def substitute(match: re.Match[str]) -> str:
        if match.group("dollar"):
            return "$"
        name = match.group("name")
        default = match.group("default")
        value = env.get(name)
        if default is not None:
            return value if value else default
        if value is None:
            raise InterpolationError(
                f"environment variable {name} is not set and has no default; "
                f"set it, or write ${{{name}:-default}}"
            )
        return value

    return _INTERPOLATION.sub(substitute, text)


__all__ = ["InterpolationError", "interpolate"]
