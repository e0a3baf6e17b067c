"""The fenced code blocks of the README and docs/, for tests that run, type-check or load them.

A block's info string is its language, optionally followed by words. The word ``fragment``
(as in ```` ```python fragment ````) marks a block that is a piece of a larger program and is
not run or checked on its own; every other ``python`` block must run, and every ``yaml``
block must load as a tree file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"

_FENCE = re.compile(
    r"^(?P<indent>[ \t]*)```(?P<info>[^\n`]*)\n(?P<body>.*?)^(?P=indent)```[ \t]*$", re.M | re.S
)


@dataclass(frozen=True)
class DocBlock:
    """One fenced block: where it is, its language and words, and its text."""

    path: Path
    line: int  # 1-based line of the opening fence
    lang: str
    words: tuple[str, ...]
    text: str

    @property
    def is_fragment(self) -> bool:
        return "fragment" in self.words

    @property
    def where(self) -> str:
        """``docs/page.md:12``, for test ids and failure messages."""
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def doc_pages() -> list[Path]:
    """The README and every Markdown page under docs/, in a stable order."""
    return [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]


def code_blocks(path: Path) -> list[DocBlock]:
    """Every fenced block of one Markdown file, indented ones (inside lists) included."""
    text = path.read_text(encoding="utf-8")
    blocks = []
    for match in _FENCE.finditer(text):
        info = match.group("info").split()
        indent = match.group("indent")
        body = match.group("body")
        if indent:
            body = "".join(
                line[len(indent) :] if line.startswith(indent) else line
                for line in body.splitlines(keepends=True)
            )
        blocks.append(
            DocBlock(
                path=path,
                line=text.count("\n", 0, match.start()) + 1,
                lang=info[0] if info else "",
                words=tuple(info[1:]),
                text=body,
            )
        )
    return blocks


def all_blocks(lang: str) -> list[DocBlock]:
    """Every block in the given language across the README and docs/."""
    return [block for page in doc_pages() for block in code_blocks(page) if block.lang == lang]
