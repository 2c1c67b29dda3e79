"""Every ```python block of docs/*.md, and every docstring example the reference page shows,
runs here against a MockTaptiServer, as the README's do (``_snippets`` gives the conventions):
the documentation site cannot drift from the code."""

from __future__ import annotations

import doctest
import inspect
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _snippets import (
    CONTINUES,
    Block,
    blocks_of,
    markers_of,
    run_block,
    snippet_namespace,
    type_check,
)

import tapti_ext
import tapti_ext.testing

DOCS = Path(__file__).resolve().parent.parent / "docs"
PAGES = sorted(DOCS.glob("*.md"))
BY_PAGE = {page: blocks_of(page) for page in PAGES}
CASES: list[tuple[list[Block], int]] = [
    (blocks, position) for blocks in BY_PAGE.values() for position in range(len(blocks))
]


@pytest.fixture
def namespace(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    with snippet_namespace(monkeypatch) as names:
        yield names


@pytest.mark.parametrize(
    ("blocks", "position"), CASES, ids=[blocks[position].test_id for blocks, position in CASES]
)
def test_docs_python_block_runs(
    blocks: list[Block], position: int, namespace: dict[str, Any], tmp_path: Path
) -> None:
    run_block(blocks, position, namespace, tmp_path)


def test_every_block_of_the_readme_and_the_docs_type_checks_strictly(tmp_path: Path) -> None:
    type_check([DOCS.parent / "README.md", *PAGES], tmp_path)


def test_the_pages_with_code_have_python_blocks_and_known_markers() -> None:
    with_code = {page.name for page, blocks in BY_PAGE.items() if blocks}
    assert {"index.md", "frameworks.md", "testing.md", "errors.md", "advanced.md"} <= with_code
    for page, blocks in BY_PAGE.items():
        assert markers_of(page) <= {CONTINUES}, page
        assert not blocks or not blocks[0].continues, page


def _docstring_examples() -> list[doctest.DocTest]:
    """The ``>>>`` examples of every public object's docstring: the reference page shows them."""
    finder, found = doctest.DocTestFinder(), {}
    for module in (tapti_ext, tapti_ext.testing):
        for name in module.__all__:
            value = getattr(module, name)
            if inspect.isclass(value) or inspect.isfunction(value):
                for test in finder.find(value, name, globs={}):
                    if test.examples:
                        found[test.name] = test
    return sorted(found.values(), key=lambda test: test.name)


EXAMPLES = _docstring_examples()


@pytest.mark.parametrize("example", EXAMPLES, ids=[test.name for test in EXAMPLES])
def test_docstring_example_runs(example: doctest.DocTest, namespace: dict[str, Any]) -> None:
    example.globs = {**vars(tapti_ext), **namespace}
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    output: list[str] = []
    runner.run(example, out=output.append)
    assert runner.failures == 0, "".join(output)


def test_the_public_docstrings_have_examples() -> None:
    assert {"Tapti", "oauth_portal_url"} <= {test.name.partition(".")[0] for test in EXAMPLES}
