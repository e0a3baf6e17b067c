"""The documentation site's generated pages, made from the code so they cannot go stale.

Each function returns one Markdown page:

- `api_reference`: a mkdocstrings directive for every name of ``supervise.__all__`` and of
  the public submodules, in sections (`API_SECTIONS`, tree specs, errors);
- `tree_file_reference`: every type of tree file, its fields, types, defaults and
  constraints, from the JSON Schema (`supervise.spec.json_schema`);
- `event_catalogue`: every `supervise.events.Event`, its level and fields (``CATALOGUE``)
  and the ``#:`` comment above it;
- `cli_reference`: every ``supervise`` command, its usage, help and options, from click;
- `source_page`: a repository file (an example) shown as a page, for links from docs/.

The site's build hook (tools/mkdocs_hooks.py) adds them; tests/test_docs.py also calls them
directly, so a field or event without a description fails there with a message naming it.
"""

from __future__ import annotations

import ast
import inspect
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

ROOT = Path(__file__).resolve().parent.parent

#: Pages generated at build time: site path -> function making its Markdown.
GENERATED = {
    "reference/api.md": "api_reference",
    "reference/tree-file.md": "tree_file_reference",
    "reference/events.md": "event_catalogue",
    "reference/cli.md": "cli_reference",
}


class DocsError(Exception):
    """Something the documentation needs from the code is missing (a description, a name)."""


# -- API reference ------------------------------------------------------------------------


#: The API page's sections for the names that are neither specs nor errors, in reading order.
#: A public name missing here still gets documented, under "More".
API_SECTIONS = {
    "Trees": [
        "open_tree",
        "Tree",
        "load_tree",
        "load_tree_text",
        "Registry",
        "configure_logging",
        "MetricsOptions",
        "TreeFileProblem",
    ],
    "Actors and refs": [
        "Actor",
        "ActorRef",
        "SupervisorRef",
        "TaskRef",
        "Request",
        "TimerHandle",
        "Monitor",
        "Down",
    ],
    "Exits, state and statistics": [
        "ExitReason",
        "ExitKind",
        "ChildState",
        "ChildInfo",
        "ChildCounts",
        "SupervisorStatistics",
        "MailboxStatistics",
        "DeadLetter",
        "DeadLetters",
        "Event",
    ],
}


def api_reference() -> str:
    """Every public name, documented from its docstring by mkdocstrings."""
    import supervise
    from supervise import events, spec

    public = list(supervise.__all__)
    errors = [n for n in public if _is_exception(getattr(supervise, n))]
    errors.sort(key=lambda n: n != "SuperviseError")  # the base first, then A to Z
    specs = [n for n in public if n in spec.__all__ and n not in errors]
    sections = {title: [n for n in names if n in public] for title, names in API_SECTIONS.items()}
    placed = {n for names in sections.values() for n in names}
    sections["More"] = [n for n in public if n not in {*errors, *specs, *placed}]
    sections["Tree specs"] = specs
    sections["Errors"] = errors
    lines = [
        "# API reference",
        "",
        "Everything below is importable from `supervise` (or from the submodule named in",
        "its heading). Names not listed here are private and may change without notice.",
        "",
    ]
    for title, names in sections.items():
        if not names:
            continue
        lines += [f"## {title}", ""]
        for name in names:
            lines.append(f"::: supervise.{name}")
            if _private_bases(getattr(supervise, name)):
                # Members a public class gets from a private base (a ref's monitor() and
                # wait_down(), a dynamic supervisor's name...) are documented with it.
                lines += ["    options:", "      inherited_members: true"]
            lines.append("")
    # The public submodules' own names (those not re-exported above).
    for module in (spec, events):
        own = [n for n in module.__all__ if n not in public]
        if own:
            lines += [f"## `{module.__name__}`", ""]
            lines += [f"::: {module.__name__}.{n}\n" for n in own]
    lines += ["## `supervise.testing`", "", "::: supervise.testing", ""]
    return "\n".join(lines)


def _is_exception(obj: object) -> bool:
    return isinstance(obj, type) and issubclass(obj, BaseException)


def _private_bases(obj: object) -> list[type]:
    """The bases of a public class that are supervise's own and not public themselves."""
    import supervise

    if not isinstance(obj, type):
        return []
    return [
        base
        for base in obj.__mro__[1:]
        if base.__module__.startswith("supervise") and base.__name__ not in supervise.__all__
    ]


# -- Tree file reference ------------------------------------------------------------------


def tree_file_reference() -> str:
    """Each type of the tree file format, with a row per field, from the JSON Schema."""
    from supervise.spec import json_schema

    schema = json_schema()
    defs: dict[str, Any] = schema["$defs"]
    roots = [ref_name(option["$ref"]) for option in schema["oneOf"]]
    lines = [
        "# Tree file reference",
        "",
        "Generated from the JSON Schema that `supervise schema` prints (and that editors can",
        "use for completion); [Tree files](../tree-files.md) explains the format with examples.",
        "",
        _first_paragraph(schema["description"]),
        "",
        "The root is a " + " or a ".join(f"[{name}](#{_anchor(name)})" for name in roots) + ".",
        "",
    ]
    for name in _reading_order(roots, defs):
        lines += [f"## {name}", "", *_describe_definition(defs[name], defs), ""]
    return "\n".join(lines)


def _reading_order(roots: list[str], defs: dict[str, Any]) -> list[str]:
    """The roots first, then each type after the first type that refers to it."""
    order: list[str] = []
    queue = list(roots)
    while queue:
        name = queue.pop(0)
        if name in order:
            continue
        order.append(name)
        queue += [
            ref_name(ref) for ref in re.findall(r'"\$ref": "([^"]+)"', json.dumps(defs[name]))
        ]
    return order + [name for name in defs if name not in order]


def ref_name(ref: str) -> str:
    """``#/$defs/ChildSpec`` -> ``ChildSpec``."""
    return ref.rsplit("/", 1)[-1]


def _anchor(name: str) -> str:
    return name.lower()


def _first_paragraph(text: str) -> str:
    return " ".join(text.strip().split("\n\n", 1)[0].split())


def _attribute_docs(docstring: str) -> dict[str, str]:
    """The ``Attributes:`` section of a Google-style docstring, as field -> text.

    An entry may name several fields (``max_restarts, max_seconds: ...``).
    """
    match = re.search(r"^Attributes:\n((?:[ \t]+.*\n?|\n)*)", docstring, re.M)
    if match is None:
        return {}
    docs: dict[str, str] = {}
    names: list[str] = []
    for line in match.group(1).splitlines():
        entry = re.match(r"^ {4}(\w[\w, ]*):\s*(.*)$", line)
        if entry:
            names = [n.strip() for n in entry.group(1).split(",")]
            for n in names:
                docs[n] = entry.group(2)
        elif line.strip() and names:
            for n in names:
                docs[n] += " " + line.strip()
    return docs


def _rst_to_md(text: str) -> str:
    """Docstring text for a Markdown table cell: ``code`` as `code`, ``|`` escaped."""
    return text.replace("``", "`").replace("|", "\\|")


def _describe_definition(definition: dict[str, Any], defs: dict[str, Any]) -> list[str]:
    description = definition.get("description", "")
    lines = [_rst_to_md(_first_paragraph(description)), ""]
    if "enum" in definition:
        values = ", ".join(f"`{value}`" for value in definition["enum"])
        return [*lines, f"One of {values}."]
    attributes = _attribute_docs(description)
    # A field a type inherits (a dynamic supervisor's name, max_restarts...) is described
    # where the same field, with the same schema, is described.
    for other in defs.values():
        for field, text in _attribute_docs(other.get("description", "")).items():
            mine = definition["properties"].get(field)
            if mine is not None and mine == other["properties"].get(field):
                attributes.setdefault(field, text)
    lines += [
        "| field | type | default | meaning |",
        "| --- | --- | --- | --- |",
    ]
    required = set(definition.get("required", []))
    for field, prop in definition["properties"].items():
        meaning = prop.get("description") or attributes.get(field, "")
        if field == "kind":
            meaning = meaning or "which type of node this is"
        if not meaning:
            name = definition.get("title", "?")
            raise DocsError(
                f"tree file field {name}.{field} has no description: describe it in the "
                f"model's docstring (Attributes:) or with Field(description=...)"
            )
        default = "required" if field in required else _default(prop)
        cells = [f"`{field}`", _type(prop), default, _rst_to_md(meaning)]
        lines.append("| " + " | ".join(cell.replace("\n", " ") for cell in cells) + " |")
    if definition.get("additionalProperties") is False:
        lines += ["", "No other fields are allowed."]
    return lines


def _default(prop: dict[str, Any]) -> str:
    if "default" not in prop:
        return "—"
    return f"`{json.dumps(prop['default'])}`"


def _type(prop: dict[str, Any]) -> str:
    """A short type: ``integer >= 0``, ``[ChildSpec](#childspec)``, ``"a" | "b"``..."""
    if "$ref" in prop:
        name = ref_name(prop["$ref"])
        return f"[{name}](#{_anchor(name)})"
    for key in ("anyOf", "oneOf"):
        if key in prop:
            return " \\| ".join(_type(option) for option in prop[key])
    if "const" in prop:
        return f'`"{prop["const"]}"`'
    if "enum" in prop:
        return " \\| ".join(f"`{json.dumps(value)}`" for value in prop["enum"])
    kind = prop.get("type", "any")
    if kind == "array":
        return f"list of {_type(prop.get('items', {}))}"
    if kind == "object":
        return "mapping"
    constraints = []
    for key, symbol in (
        ("minimum", ">="),
        ("exclusiveMinimum", ">"),
        ("maximum", "<="),
        ("exclusiveMaximum", "<"),
    ):
        if key in prop:
            constraints.append(f"{symbol} {prop[key]}")
    if "pattern" in prop:
        constraints.append(f"matching `{prop['pattern']}`")
    return " ".join([kind, ", ".join(constraints)]).strip()


# -- Event catalogue ----------------------------------------------------------------------


def event_descriptions() -> dict[str, str]:
    """Each event name -> the ``#:`` comment written above its member in supervise/events.py.

    Raises DocsError for a member without one: every event is documented.
    """
    from supervise import events

    source = inspect.getsource(events)
    members = {member.name: member.value for member in events.Event}
    lines = source.splitlines()
    described: dict[str, str] = {}
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if not (isinstance(node, ast.ClassDef) and node.name == "Event"):
            continue
        for statement in node.body:
            if not (isinstance(statement, ast.Assign) and len(statement.targets) == 1):
                continue
            target = statement.targets[0]
            if not (isinstance(target, ast.Name) and target.id in members):
                continue
            comment: list[str] = []
            row = statement.lineno - 2  # 0-based index of the line above
            while row >= 0 and lines[row].strip().startswith("#:"):
                comment.insert(0, lines[row].strip().removeprefix("#:").strip())
                row -= 1
            described[members[target.id]] = " ".join(comment)
    missing = [value for value in members.values() if not described.get(value)]
    if missing:
        raise DocsError(
            f"events without a description: {', '.join(missing)}; write a `#:` comment "
            f"above each member of supervise.events.Event (what happened; Fields: ...)"
        )
    return {value: described[value] for value in members.values()}


def event_catalogue() -> str:
    """The catalogue: the module's introduction, then a row per event with its level and fields."""
    from supervise import events

    intro = inspect.getdoc(events) or ""
    lines = [
        "# Event catalogue",
        "",
        "Generated from `supervise.events`: the `Event` names, the comments above them and",
        "`CATALOGUE`, which holds each event's level and fields for tools and tests.",
        "",
        _rst_to_md(intro.split("\n", 2)[-1]).strip(),
        "",
        "| event | level | fields | when |",
        "| --- | --- | --- | --- |",
    ]
    for name, text in event_descriptions().items():
        spec = events.CATALOGUE[events.Event(name)]
        fields = ", ".join(f"`{field}`" for field in sorted(spec.fields))
        if spec.optional:
            fields += "; where they apply: " + ", ".join(
                f"`{field}`" for field in sorted(spec.optional)
            )
        lines.append(f"| `{name}` | {spec.level} | {fields} | {_rst_to_md(text)} |")
    return "\n".join(lines) + "\n"


# -- CLI reference ------------------------------------------------------------------------


def cli_reference() -> str:
    """Every command of ``supervise``: usage, help text and options, from click itself."""
    from supervise._cli import main

    lines = [
        "# Command reference",
        "",
        "Generated from the `supervise` command's own help; [The supervise command](../cli.md)",
        "explains exit statuses, logs and signals.",
        "",
    ]
    for path, command, ctx in _commands(main, "supervise"):
        lines += [f"## `{path}`", "", "```text", command.get_usage(ctx), "```", ""]
        help_text = inspect.cleandoc(command.help or "")
        if not help_text:
            raise DocsError(f"command {path!r} has no help text: give it a docstring")
        lines += [_click_help_to_md(help_text), ""]
        # Arguments have no help of their own: the usage line and the text name them.
        params = [p for p in command.get_params(ctx) if isinstance(p, click.Option)]
        rows = [param.get_help_record(ctx) for param in params]
        options = [row for row in rows if row is not None]
        if options:
            lines += ["| option | meaning |", "| --- | --- |"]
            lines += [f"| `{opts}` | {_rst_to_md(text)} |" for opts, text in options]
            lines.append("")
    return "\n".join(lines)


def _commands(
    command: click.Command, path: str, parent: click.Context | None = None
) -> Iterator[tuple[str, click.Command, click.Context]]:
    ctx = click.Context(command, info_name=path.rsplit(" ", 1)[-1], parent=parent)
    yield path, command, ctx
    if isinstance(command, click.Group):
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            if sub is not None and not sub.hidden:
                yield from _commands(sub, f"{path} {name}", ctx)


def _click_help_to_md(text: str) -> str:
    """click's help: ``\\b`` paragraphs kept as they are, the rest as prose."""
    paragraphs = []
    for paragraph in text.split("\n\n"):
        if paragraph.startswith("\b\n"):
            paragraphs.append("```text\n" + paragraph[2:] + "\n```")
        else:
            paragraphs.append(paragraph)
    return "\n\n".join(paragraphs)


# -- Source files -------------------------------------------------------------------------

_LANGUAGES = {".py": "python", ".yaml": "yaml", ".yml": "yaml", ".json": "json", ".toml": "toml"}


def source_page(relative: str) -> str:
    """A repository file (``examples/heal.py``) as a page: its name, then its text."""
    path = ROOT / relative
    language = _LANGUAGES.get(path.suffix, "text")
    text = path.read_text(encoding="utf-8").rstrip("\n")
    fence = "`" * max(3, 1 + max((len(run) for run in re.findall("`+", text)), default=0))
    return f"# `{relative}`\n\n{fence}{language}\n{text}\n{fence}\n"
