"""Every ```python block of README.md runs here, against a MockTaptiServer, so the README cannot
drift from the code; ``_snippets`` gives the conventions. The README's shape is checked too: it
is the first page a user reads, so it stays short and starts with the quick start."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _snippets import CONTINUES, blocks_of, markers_of, run_block, snippet_namespace

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCKS = blocks_of(README)
MAX_LINES = 200
QUICK_START_BY = 40


@pytest.fixture
def namespace(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    with snippet_namespace(monkeypatch) as names:
        yield names


@pytest.mark.parametrize("position", range(len(BLOCKS)), ids=[b.test_id for b in BLOCKS])
def test_readme_python_block_runs(position: int, namespace: dict[str, Any], tmp_path: Path) -> None:
    run_block(BLOCKS, position, namespace, tmp_path)


def test_the_readme_has_python_blocks_and_the_markers_are_known() -> None:
    assert len(BLOCKS) >= 2
    assert markers_of(README) <= {CONTINUES}
    assert not BLOCKS[0].continues


def test_the_readme_is_short_and_starts_with_the_quick_start() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= MAX_LINES, f"README.md has {len(lines)} lines; at most {MAX_LINES}"
    quick_start = next(i for i, line in enumerate(lines, 1) if re.match(r"## Quick start", line))
    assert quick_start <= QUICK_START_BY, f"## Quick start is on line {quick_start}"
    assert BLOCKS[0].line <= QUICK_START_BY + 25  # its code follows at once
    text = "\n".join(lines)
    assert "`test-key`" in text  # the key the mock accepts, said where a newcomer reads
    assert "make demo" in text
    assert "make test" in text
