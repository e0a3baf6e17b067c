"""MkDocs hooks: add the generated pages, and keep links to repository files working.

- The API, tree file, event and CLI references (tools/docs_pages.py) and the changelog
  (CHANGELOG.md) are made at build time, so the site always matches the code.
- Docstrings' ``.. versionadded::`` notes read as text.
- ```` ```python fragment ```` blocks are shown as ```` ```python ````.
- Pages in docs/ link to files outside it as they are in the repository
  (``[heal.py](../examples/heal.py)``), so the links work when reading the files. On the site,
  each such file gets a page of its own (``source/examples/heal.py/``) and the link points
  there; a link to a file that does not exist is left alone, and ``--strict`` fails on it.
"""

from __future__ import annotations

import posixpath
import re
import sys
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

# MkDocs loads this file by its path: make the repository's `tools` package importable.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tools import docs_pages

ROOT = docs_pages.ROOT

#: Site pages that are repository files outside docs/: site path -> repository path.
_MIRRORED = {"changelog.md": "CHANGELOG.md"}
#: Repository files outside docs/ whose links go to a page of the site: path -> site path.
_ALIASES = {"CHANGELOG.md": "changelog.md", "README.md": "index.md"}

#: ```` ```python fragment ````: the word marks a block the tests do not run (tests/_doc_blocks.py).
_FRAGMENT = re.compile(r"^([ \t]*```+[\w+-]+)[ \t]+fragment[ \t]*$", re.M)

_LINK = re.compile(r"\]\((?P<target>[^)\s#]+)(?P<anchor>#[^)\s]*)?\)")


def on_files(files: Files, config: Any) -> Files:
    for site_path, function in docs_pages.GENERATED.items():
        content = getattr(docs_pages, function)()
        files.append(File.generated(config, site_path, content=content))
    if files.get_file_from_path("changelog.md") is None:
        changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
        files.append(File.generated(config, "changelog.md", content=changelog))
    sources: set[str] = set()
    for file in list(files):
        if file.is_documentation_page() and file.abs_src_path is not None:
            text = Path(file.abs_src_path).read_text(encoding="utf-8")
            sources.update(_outside_files(text, _repo_path(file.src_uri)))
        elif file.src_uri == "changelog.md":
            sources.update(_outside_files(file.content_string, "CHANGELOG.md"))
    for repo_path in sorted(sources):
        files.append(
            File.generated(
                config, _source_page(repo_path), content=docs_pages.source_page(repo_path)
            )
        )
    return files


def on_page_markdown(markdown: str, page: Any, config: Any, files: Files) -> str:
    src_uri: str = page.file.src_uri
    from_repo = _repo_path(src_uri)

    def relink(match: re.Match[str]) -> str:
        target = match.group("target")
        site = _site_path(target, from_repo)
        if site is None:
            return match.group(0)
        relative = posixpath.relpath(site, posixpath.dirname(src_uri) or ".")
        return f"]({relative}{match.group('anchor') or ''})"

    # Fence words other than the language stop Python-Markdown from seeing a fence at all.
    markdown = _FRAGMENT.sub(r"\1", markdown)
    return _LINK.sub(relink, markdown)


_VERSION_NOTE = re.compile(r"<p>\.\. version(added|changed):: ([^\s<]+)\s*(.*?)</p>", re.S)


def on_page_content(html: str, page: Any, config: Any, files: Files) -> str:
    """Docstrings' Sphinx ``.. versionadded:: 0.1`` as a line of text."""

    def note(match: re.Match[str]) -> str:
        what = "Added" if match.group(1) == "added" else "Changed"
        rest = f" {match.group(3)}" if match.group(3) else ""
        return f"<p><em>{what} in version {match.group(2)}.</em>{rest}</p>"

    return _VERSION_NOTE.sub(note, html)


def _repo_path(src_uri: str) -> str:
    """Where a site page's text lives in the repository."""
    return _MIRRORED.get(src_uri, f"docs/{src_uri}")


def _resolve(target: str, from_repo: str) -> str | None:
    """The repository path a relative link points at, or None for URLs and anchors."""
    if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith(("/", "#")):
        return None
    return posixpath.normpath(posixpath.join(posixpath.dirname(from_repo), target))


def _outside_files(markdown: str, from_repo: str) -> set[str]:
    """Existing repository files outside docs/ that a page links to."""
    found = set()
    for match in _LINK.finditer(markdown):
        path = _resolve(match.group("target"), from_repo)
        if (
            path is not None
            and not path.startswith(("docs/", "../"))
            and path not in _ALIASES
            and (ROOT / path).is_file()
        ):
            found.add(path)
    return found


def _source_page(repo_path: str) -> str:
    return f"source/{repo_path}.md"


def _site_path(target: str, from_repo: str) -> str | None:
    """The site page for a link written in the repository, if it is not the same link."""
    path = _resolve(target, from_repo)
    if path is None:
        return None
    if path.startswith("docs/"):
        site = path.removeprefix("docs/")
        return site if not from_repo.startswith("docs/") else None
    if path in _ALIASES:
        return _ALIASES[path]
    if (ROOT / path).is_file():
        return _source_page(path)
    return None
