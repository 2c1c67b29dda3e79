"""The public reference page and the spec, as the fact-checking tests read them.

The page is not copied into this repository (its text is Tapti's): it sits in the `shared/`
folder beside the checkout, as CI lays it out, or wherever `TAPTI_REFERENCE_PAGE` points.
In CI a missing page fails the tests; in a bare clone elsewhere they are skipped, saying why.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
SPEC_PATH = REPO_ROOT / "openapi" / "tapti.yaml"
BESIDE_THE_REPO = REPO_ROOT.parent / "shared" / "reference" / "sdk-token-endpoint.md"


@cache
def load_spec() -> dict[str, Any]:
    spec = yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))
    assert isinstance(spec, dict), f"{SPEC_PATH} is not a YAML mapping"
    return spec


def reference_page() -> str:
    path = Path(os.environ.get("TAPTI_REFERENCE_PAGE") or BESIDE_THE_REPO)
    if not path.is_file():
        message = (
            f"reference page not found at {path}: put shared/ beside the repository "
            "or set TAPTI_REFERENCE_PAGE"
        )
        if os.environ.get("CI"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return path.read_text(encoding="utf-8")
