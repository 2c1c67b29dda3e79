"""Running the ```python blocks of a Markdown file (README.md, docs/*.md) against a mock, so that
the documentation cannot drift from the code. Used by test_readme_snippets.py and
test_docs_snippets.py.

Conventions, for whoever edits the documentation:

- Each block is one test, run in a fresh namespace with ``TAPTI_API_KEY``/``TAPTI_BASE_URL``
  pointing at a running mock (key ``"test-key"``). The namespace already holds the names the
  docs use without defining them: ``tapti`` (a ``Tapti`` on the mock), ``user_id``
  (``"user_123"``) and ``sdk_token`` (a token the mock issued).
- ``<!-- snippet: continues -->`` on the line before a block runs it after the block before it
  (in the same file), in the same namespace (for a block that uses what the previous one
  defined).
- A call whose only argument is ``...`` (``create_sdk_token(...)``, ``createSDKToken(...)``)
  gets the arguments of ``DEFAULT_CALL``; other ``...`` (``except X: ...``) stay as they are.
- Top-level ``await`` / ``async with`` runs on an event loop.
- A block that defines ``test_*`` functions is a test module: it is written to a file and run by
  pytest in a subprocess, with the package's real fixtures (``tapti_mock``, ``tapti_client``,
  ``tapti_async_client``), and every test it defines must pass.
- Clients and servers a block leaves open are closed after it.
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
DEFAULT_CALL: dict[str, object] = {
    "platforms": ["youtube", "tiktok"],
    "scopes": ["profile_read"],
    "callback_url": "https://your-app.com/api/oauth/callback",
    "redirect_url": "https://your-app.com/dashboard/accounts",
}
# The SDK calls whose `...` argument stands for DEFAULT_CALL.
SUBSTITUTED = frozenset({"create_sdk_token", "createSDKToken"})
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


class _FillEllipsis(ast.NodeTransformer):
    def visit_Call(self, node: ast.Call) -> ast.AST:
        self.generic_visit(node)
        callee = node.func.attr if isinstance(node.func, ast.Attribute) else None
        if isinstance(node.func, ast.Name):
            callee = node.func.id
        only_ellipsis = (
            len(node.args) == 1
            and isinstance(node.args[0], ast.Constant)
            and node.args[0].value is Ellipsis
            and not node.keywords
        )
        if callee in SUBSTITUTED and only_ellipsis:
            node.args = []
            node.keywords = [
                ast.keyword(arg=name, value=ast.parse(repr(value), mode="eval").body)
                for name, value in DEFAULT_CALL.items()
            ]
        return node


def _tree(block: Block) -> ast.Module:
    # Padded so that tracebacks give the Markdown file's own line numbers.
    tree = ast.parse("\n" * (block.line - 1) + block.code, filename=str(block.path))
    return ast.fix_missing_locations(_FillEllipsis().visit(tree))


def _defines_tests(blocks: list[Block]) -> bool:
    return any(
        isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test")
        for block in blocks
        for node in _tree(block).body
    )


@contextlib.contextmanager
def snippet_namespace(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """A running mock, the environment pointing at it, and the names blocks may use."""
    with MockTaptiServer(api_key=KEY) as server:
        monkeypatch.setenv("TAPTI_API_KEY", KEY)
        monkeypatch.setenv("TAPTI_BASE_URL", server.url)
        with Tapti(api_key=KEY, base_url=server.url) as tapti:
            token = tapti.user("user_123").create_sdk_token(**DEFAULT_CALL)  # type: ignore[arg-type]
            names: dict[str, Any] = {
                "__name__": "doc_snippet",
                "tapti": tapti,
                "user_id": "user_123",
                "sdk_token": token.sdk_token,
            }
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
