"""The environment every figure is measured in: a venv holding the built wheel and nothing else.

The development ``.venv`` holds rich and click (dev tools bring them), and with them installed
``import httpx2`` also imports httpx2's command-line module, about 40 ms that flatter every
cold-start ratio. So the benchmark builds the wheel, installs it with its runtime dependencies
(pinned by ``constraints.txt``, as the dev environment is) into ``.bench/venv-<key>``, and runs
there. The key hashes the wheel, the pins and the interpreter: an unchanged tree reuses the venv
(hatchling's wheels are reproducible), any change builds a new one and removes the old.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from .config import BENCH_DIR, NOT_IN_CLEAN_VENV, ROOT

CONSTRAINTS = ROOT / "constraints.txt"
WHEEL_DIR = BENCH_DIR / "wheel"
READY = ".ready"


def quiet_env() -> dict[str, str]:
    """This environment without what would put other code on the venv's ``sys.path``."""
    dropped = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONUSERBASE")
    return {k: v for k, v in os.environ.items() if k not in dropped}


def run(argv: list[str | Path]) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [str(a) for a in argv], capture_output=True, text=True, check=False, env=quiet_env()
    )
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, argv))} failed:\n{proc.stdout}{proc.stderr}")
    return proc


def build_wheel() -> Path:
    """The wheel ``pip install .`` would install, built with the dev environment's hatchling."""
    shutil.rmtree(WHEEL_DIR, ignore_errors=True)
    WHEEL_DIR.mkdir(parents=True)
    pip = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]
    run([*pip, "-w", WHEEL_DIR, ROOT])
    (wheel,) = WHEEL_DIR.glob("tapti-*.whl")
    return wheel


def venv_key(wheel: Path, python: str, extra: str = "") -> str:
    version = run([python, "-c", "import sys; print(sys.version)"]).stdout
    digest = hashlib.sha256(wheel.read_bytes() + extra.encode())
    digest.update(CONSTRAINTS.read_bytes())
    digest.update(version.encode())
    return digest.hexdigest()[:12]


def venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def installed(venv: Path) -> list[dict[str, str]]:
    listed = run([venv_python(venv), "-m", "pip", "list", "--format=json"]).stdout
    packages: list[dict[str, str]] = json.loads(listed)
    return packages


def check_clean(venv: Path) -> list[dict[str, str]]:
    """``pip list`` of the venv; exits if it holds what httpx2's command line would import."""
    packages = installed(venv)
    present = sorted({p["name"].lower() for p in packages} & set(NOT_IN_CLEAN_VENV))
    if present:
        raise SystemExit(f"{venv} is not clean: it holds {', '.join(present)}")
    return packages


def ensure_venv(wheel: Path, python: str, *, otel: bool = False) -> Path:
    """The clean venv for this wheel, created (and older ones removed) when it is not there.

    ``otel``: with the wheel's ``otel`` extra, to show what tracing costs when the API is there.
    """
    extra = "[otel]" if otel else ""
    venv = BENCH_DIR / f"venv-{venv_key(wheel, python, extra)}"
    if (venv / READY).exists():
        print(f"reusing {venv.relative_to(ROOT)} (same wheel, pins and interpreter)", flush=True)
    else:
        for old in BENCH_DIR.glob("venv-*"):
            shutil.rmtree(old)
        print(f"creating {venv.relative_to(ROOT)}: {wheel.name} and its runtime dependencies")
        run([python, "-m", "venv", venv])
        run([venv_python(venv), "-m", "pip", "install", "-q", "-c", CONSTRAINTS, f"{wheel}{extra}"])
    packages = check_clean(venv)
    (venv / READY).write_text(json.dumps(packages, indent=1) + "\n", encoding="utf-8")
    names = ", ".join(f"{p['name']} {p['version']}" for p in packages)
    print(f"pip list: {names}", flush=True)
    return venv
