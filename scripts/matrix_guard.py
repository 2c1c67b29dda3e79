"""pytest plugin for ``make matrix``: the run fails unless it tests the installed wheel.

``scripts/matrix.py`` loads it with ``-p tapti_matrix_guard``. Before any test runs, it checks
that ``tapti_ext`` and ``tapti_api_client`` are imported from this interpreter's site-packages
(the wheel installed in the matrix venv), not from a checkout that ended up on ``sys.path``;
the header of the run names where they came from.
"""

from __future__ import annotations

import importlib
import sysconfig
from pathlib import Path

import pytest

PACKAGES = ("tapti_ext", "tapti_api_client")


def origins() -> dict[str, Path]:
    found = {}
    for name in PACKAGES:
        module = importlib.import_module(name)
        found[name] = Path(module.__file__ or "?").resolve()
    return found


def pytest_report_header() -> str:  # pluggy passes only the arguments a hook names
    return "installed wheel under test: " + ", ".join(
        f"{name} from {path.parent}" for name, path in origins().items()
    )


def pytest_sessionstart() -> None:
    site = Path(sysconfig.get_paths()["purelib"]).resolve()
    wrong = [f"{name} from {path}" for name, path in origins().items() if site not in path.parents]
    if wrong:
        pytest.exit(f"not the installed wheel ({site}): " + "; ".join(wrong), returncode=4)
