"""What `import tapti_ext` offers, and what it costs before anything is used."""

from __future__ import annotations

import subprocess
import sys

import tapti_api_client.models

import tapti_ext


def test_every_public_name_resolves_and_all_is_complete() -> None:
    assert set(tapti_ext.__all__) == {*tapti_ext._HOMES, "__version__"}
    for name in tapti_ext.__all__:
        assert getattr(tapti_ext, name) is not None, name
    assert dir(tapti_ext) == sorted(tapti_ext.__all__)


def test_enums_are_the_generated_ones() -> None:
    assert tapti_ext.Platform is tapti_api_client.models.Platform
    assert tapti_ext.Scope is tapti_api_client.models.Scope


def test_importing_the_package_and_the_pytest_plugin_loads_no_http_stack() -> None:
    heavy = ("httpx2", "tapti_api_client", "tapti_ext._client")
    code = (
        "import sys, tapti_ext, tapti_ext.testing._pytest_plugin; "
        f"print(sorted(m for m in {heavy!r} if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"
