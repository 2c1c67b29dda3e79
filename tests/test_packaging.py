"""The wheel `pip install .` builds ships both packages, their py.typed markers and entry points."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def build_wheel(out: Path) -> zipfile.ZipFile:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(out),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    (wheel,) = out.glob("tapti-*.whl")
    return zipfile.ZipFile(wheel)


def test_wheel_contents(tmp_path: Path) -> None:
    with build_wheel(tmp_path) as wheel:
        names = set(wheel.namelist())
        entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
        metadata = next(n for n in names if n.endswith(".dist-info/METADATA"))
        entry_text = wheel.read(entry_points).decode()
        metadata_text = wheel.read(metadata).decode()
    for required in (
        "tapti_ext/__init__.py",
        "tapti_ext/py.typed",
        "tapti_ext/testing/__init__.py",
        "tapti_api_client/__init__.py",
        "tapti_api_client/py.typed",
        "tapti_api_client/api/users/create_sdk_token.py",
    ):
        assert required in names
    assert not any(name.startswith(("generated/", "tests/")) for name in names)
    assert "tapti = tapti_ext._cli:main" in entry_text
    assert "tapti_mock = tapti_ext.testing._pytest_plugin" in entry_text
    assert "Requires-Python: >=3.11" in metadata_text
    requirements = [
        line for line in metadata_text.splitlines() if line.startswith("Requires-Dist:")
    ]
    runtime = sorted(line.split()[1] for line in requirements if "extra ==" not in line)
    assert runtime == [
        "anyio>=4.16",
        "attrs>=23.2",
        "h11>=0.16",
        "httpcore2<3,>=2.16",
        "httpx2<3,>=2.16",
        "python-dateutil>=2.8",
        "sniffio>=1.3",
    ]
