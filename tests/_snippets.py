"""Running the ```python blocks of a Markdown file (README.md, docs/*.md) against a mock, so that
the documentation cannot drift from the code. Used by test_readme_snippets.py and
test_docs_snippets.py.

Conventions, for whoever edits the documentation:

- Each block is one test, run in a fresh, empty namespace with ``TAPTI_API_KEY`` and
  ``TAPTI_BASE_URL`` pointing at a running mock (key ``"test-key"``), as after "Try it locally"'s
  ``export`` line: a block runs as a reader would paste it, so it defines every name it uses.
- ``<!-- snippet: continues -->`` on the line before a block runs it after the block before it
  (in the same file), in the same namespace (for a block that uses what the previous one
  defined).
- Top-level ``await`` / ``async with`` runs on an event loop.
- A block that defines ``test_*`` functions is a test module: it is written to a file and run by
  pytest in a subprocess, with the package's real fixtures (``tapti_mock``, ``tapti_client``,
  ``tapti_async_client``), and every test it defines must pass.
- Clients and servers a block leaves open are closed after it.
- Every block (with those it continues) passes ``mypy --strict`` too (``type_check``): a typed
  backend copies them.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import inspect
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest

from tapti_ext import AsyncTapti, Tapti
from tapti_ext.testing import MockTaptiServer

KEY = "test-key"
CONTINUES = "<!-- snippet: continues -->"
PYTEST_SECONDS = 120


@dataclass(frozen=True)
class Block:
    path: Path
    line: int  # the file's line of the first line of code
    code: str
    heading: str
    continues: bool

    @property
    def test_id(self) -> str:
        heading = re.sub(r"[^a-z0-9]+", "-", self.heading.lower()).strip("-")
        return f"{self.path.stem}-L{self.line}-{heading}"


def blocks_of(path: Path) -> list[Block]:
    """The ```python blocks of ``path``, in order."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    heading, index = "", 0
    while index < len(lines):
        line = lines[index]
        if line.startswith("#"):
            heading = line.lstrip("#").strip()
        if line.strip() == "```python":
            end = lines.index("```", index + 1)
            before = [text for text in lines[:index] if text.strip()]
            continues = bool(before) and before[-1].strip() == CONTINUES
            code = "\n".join(lines[index + 1 : end]) + "\n"
            blocks.append(Block(path, index + 2, code, heading, continues))
            index = end
        index += 1
    return blocks


def markers_of(path: Path) -> set[str]:
    return set(re.findall(r"<!-- snippet:[^>]*-->", path.read_text(encoding="utf-8")))


def chain(blocks: list[Block], position: int) -> list[Block]:
    """The block at ``position`` and the blocks it continues, first to last."""
    found = [blocks[position]]
    while found[0].continues and position > 0:
        position -= 1
        found.insert(0, blocks[position])
    return found


def _tree(block: Block) -> ast.Module:
    # Padded so that tracebacks give the Markdown file's own line numbers.
    return ast.parse("\n" * (block.line - 1) + block.code, filename=str(block.path))


def _defines_tests(blocks: list[Block]) -> bool:
    return any(
        isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test")
        for block in blocks
        for node in _tree(block).body
    )


@contextlib.contextmanager
def snippet_namespace(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """A running mock, the environment pointing at it, and an empty namespace for the blocks."""
    with MockTaptiServer(api_key=KEY) as server:
        monkeypatch.setenv("TAPTI_API_KEY", KEY)
        monkeypatch.setenv("TAPTI_BASE_URL", server.url)
        names: dict[str, Any] = {"__name__": "doc_snippet"}
        try:
            yield names
        finally:
            _close_sync(names)


def _close_sync(names: dict[str, Any]) -> None:
    for value in list(names.values()):
        if isinstance(value, Tapti | httpx2.Client):
            value.close()
        elif isinstance(value, MockTaptiServer):
            value.stop()


async def _close_async(names: dict[str, Any]) -> None:
    for value in list(names.values()):
        if isinstance(value, AsyncTapti):
            await value.close()
        elif isinstance(value, httpx2.AsyncClient):
            await value.aclose()


def _run(block: Block, names: dict[str, Any]) -> None:
    code = compile(_tree(block), str(block.path), "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    if not code.co_flags & inspect.CO_COROUTINE:
        exec(code, names)
        return

    async def run_on_a_loop() -> None:
        try:
            await eval(code, names)
        finally:
            await _close_async(names)  # on the loop their connections belong to

    asyncio.run(run_on_a_loop())


def _run_with_pytest(blocks: list[Block], folder: Path) -> None:
    module = "\n\n".join(ast.unparse(_tree(block)) for block in blocks)
    test_file = folder / "test_doc_block.py"
    test_file.write_text(module + "\n", encoding="utf-8")
    expected = sum(
        isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test")
        for node in ast.parse(module).body
    )
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-W", "error", "-q"]
    result = subprocess.run(
        [*command, str(test_file)],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=PYTEST_SECONDS,
        check=False,
    )
    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    # anyio runs an async test once per backend it finds, so a test may pass more than once.
    passed = re.fullmatch(r"(\d+) passed in .*", summary)
    assert passed is not None, result.stdout  # nothing failed, errored or was skipped
    assert int(passed.group(1)) >= expected, result.stdout


def run_block(blocks: list[Block], position: int, names: dict[str, Any], folder: Path) -> None:
    """Run the block at ``position`` (after those it continues) as the conventions say."""
    found = chain(blocks, position)
    if _defines_tests(found):
        _run_with_pytest(found, folder)
        return
    for block in found:
        _run(block, names)


def type_check(pages: list[Path], folder: Path) -> None:
    """Every block of ``pages``, with those it continues, passes ``mypy --strict`` (one run).
    Top-level ``await`` is allowed: the blocks that use it run on a loop (see above)."""
    for page in pages:
        blocks = blocks_of(page)
        for position, block in enumerate(blocks):
            if position + 1 < len(blocks) and blocks[position + 1].continues:
                continue  # checked as part of the block that continues it
            code = "\n".join(part.code for part in chain(blocks, position))
            (folder / f"{block.test_id.replace('-', '_')}.py").write_text(code, encoding="utf-8")
    config = folder / "mypy.ini"
    config.write_text("[mypy]\nstrict = True\ndisable_error_code = top-level-await\n")
    command = [sys.executable, "-m", "mypy", "--config-file", str(config), "--cache-dir"]
    result = subprocess.run(
        [*command, str(folder / ".mypy_cache"), str(folder)],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=PYTEST_SECONDS,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"no issues found in \d+ source files", result.stdout), result.stdout
