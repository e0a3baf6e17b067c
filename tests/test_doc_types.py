"""The README's and docs' Python examples type-check as a user's code would.

Every ``python`` block that is not a ``fragment`` (and each file of tests/type_checks/, user
code with ``assert_type`` checks) is written to a file of its own, and the
files are checked in one run of each checker (one start-up for all of them): `mypy --strict`
with a user's plain ``strict = True`` (without the project's pydantic plugin), and pyright in
strict mode. An example that type-checks here type-checks in a new project too.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from _doc_blocks import ROOT, DocBlock, all_blocks

#: Code written as a user would, checked with the docs' examples (assert_type included).
USER_CODE = Path(__file__).parent / "type_checks"


def write_blocks(directory: Path) -> dict[str, DocBlock]:
    """Each runnable Python block as ``doc_block_NNN.py`` in ``directory``, by file name.

    The files of tests/type_checks/ are copied beside them, as blocks of their own.
    """
    blocks = [block for block in all_blocks("python") if not block.is_fragment]
    assert len(blocks) >= 5, "the README tour and the docs' examples are found"
    for path in sorted(USER_CODE.glob("*.py")):
        text = path.read_text(encoding="utf-8")
        blocks.append(DocBlock(path=path, line=0, lang="python", words=(), text=text))
    files = {}
    for index, block in enumerate(blocks):
        name = f"doc_block_{index:03d}.py"
        (directory / name).write_text(block.text, encoding="utf-8")
        files[name] = block
    return files


def test_python_examples_pass_mypy_strict(tmp_path: Path) -> None:
    """No mypy --strict error in any runnable Python block of the README and docs/."""
    files = write_blocks(tmp_path)
    config = tmp_path / "mypy.ini"
    config.write_text("[mypy]\nstrict = True\n", encoding="utf-8")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--config-file",
            str(config),
            # Kept between runs; a configuration of its own, so it never mixes with the
            # project's cache (which uses the pydantic plugin).
            "--cache-dir",
            str(ROOT / ".mypy_cache" / "doc-blocks"),
            *files,
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    def where(match: re.Match[str]) -> str:
        block = files[match.group(1)]
        return f"{block.path.relative_to(ROOT)}:{block.line + int(match.group(2))}:"

    report = re.sub(r"(doc_block_\d+\.py):(\d+):", where, result.stdout + result.stderr)
    assert result.returncode == 0, f"the docs' examples fail mypy --strict:\n{report}"


def test_python_examples_pass_pyright_strict(tmp_path: Path) -> None:
    """No pyright error in strict mode in any runnable Python block of the README and docs/."""
    files = write_blocks(tmp_path)
    (tmp_path / "pyrightconfig.json").write_text(
        json.dumps({"typeCheckingMode": "strict", "pythonVersion": "3.11"}), encoding="utf-8"
    )
    result = subprocess.run(
        [sys.executable, "-m", "pyright", "--outputjson", *files],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.stdout, f"pyright did not run (pip install -e '.[dev]'):\n{result.stderr}"
    problems = [
        f"{files[Path(d['file']).name].path.relative_to(ROOT)}:"
        f"{files[Path(d['file']).name].line + d['range']['start']['line'] + 1}: {d['message']}"
        for d in json.loads(result.stdout)["generalDiagnostics"]
        if d["severity"] == "error"
    ]
    assert not problems, "the docs' examples fail pyright --strict:\n" + "\n".join(problems)
