"""The documentation site: built strictly and offline as ``make docs`` builds it, then opened from
disk in headless Chromium (Debian's, through Playwright, as in test_browser_portal.py) to check
that the quick start and the API reference render, and that no page reaches for the network."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_browser_portal import CHROMIUM, CHROMIUM_ARGS, TIMEOUT_MS, _require_browser

import tapti_ext

ROOT = Path(__file__).resolve().parent.parent
MKDOCS = [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet"]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site, built by ``mkdocs build --strict`` (a warning fails it) into a scratch folder."""
    folder = tmp_path_factory.mktemp("site")
    result = subprocess.run(
        [*MKDOCS, "--config-file", str(ROOT / "mkdocs.yml"), "--site-dir", str(folder)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return folder


@pytest.fixture
def page(site: Path) -> Iterator[Any]:
    """A Chromium page, and the URL of every request it made (``page.requested``)."""
    sync_api = _require_browser()
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            tab = browser.new_page()
            tab.set_default_timeout(TIMEOUT_MS)
            tab.requested = []
            tab.on("request", lambda request: tab.requested.append(request.url))
            yield tab
        finally:
            browser.close()


def _heading(text: str) -> str:
    return text.rstrip("¶").strip()  # the permalink sign the toc extension adds


def test_every_page_is_built_and_in_the_navigation(site: Path) -> None:
    index = (site / "index.html").read_text(encoding="utf-8")
    for source in sorted((ROOT / "docs").glob("*.md")):
        built = site / f"{source.stem}.html"
        assert built.is_file(), source.name
        assert f'href="{built.name}"' in index, f"{source.name} is not in the navigation"


def test_the_quick_start_renders(site: Path, page: Any) -> None:
    page.goto((site / "index.html").as_uri())
    assert _heading(page.inner_text("article h1")) == "Quick start"
    headings = [_heading(text) for text in page.locator("article h2").all_inner_texts()]
    assert "Create a token and redirect" in headings
    code = page.locator("article pre code").all_inner_texts()
    assert any("create_sdk_token(" in block for block in code)
    assert "test-key" in page.inner_text("article")
    page.click("nav >> text=API reference")
    page.wait_for_url("**/reference.html")
    assert _heading(page.inner_text("article h1")) == "API reference"
    assert all(url.startswith(("file:", "data:")) for url in page.requested), page.requested


def test_the_reference_renders_the_clients_and_every_error(site: Path, page: Any) -> None:
    page.goto((site / "reference.html").as_uri())
    entry = page.locator('[id="tapti_ext.AuthenticationError"]')
    assert "AuthenticationError" in entry.inner_text()
    article = page.inner_text("article")
    assert "401: the API key is missing, wrong or revoked." in article
    errors = [name for name in tapti_ext.__all__ if name.endswith("Error")]
    assert len(errors) == 14
    public = [name for name in tapti_ext.__all__ if name != "__version__"]
    for name in [*public, "MockTaptiServer"]:  # every public name, types and constants too
        assert page.locator(f'[id$=".{name}"]').count() >= 1, name
    # What an error carries, as a table a reader can scan; no private base or type variable.
    status_error = page.locator('[id="tapti_ext.APIStatusError"] ~ .doc-contents').first
    assert {"status_code", "request_id", "body", "response"} <= set(
        re.findall(r"\w+", status_error.inner_text())
    )
    assert not re.search(r"\b_[A-Z]\w*", article), re.search(r"\b_[A-Z]\w*", article)
    # Doctest examples are code (scripts/docs_doctest.py), not Markdown quotations.
    assert page.locator("article blockquote").count() == 0
    # The constructor's parameters are in the class's signature.
    signature = page.locator('[id="tapti_ext.Tapti"] + .doc-signature').inner_text()
    assert "api_key" in signature
    assert "http_client" in signature
    assert all(url.startswith(("file:", "data:")) for url in page.requested), page.requested
