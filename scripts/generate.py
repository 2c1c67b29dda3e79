"""Regenerate the low-level client from openapi/tapti.yaml, or check the committed copy is current.

    python scripts/generate.py          # rewrite generated/tapti_api_client
    python scripts/generate.py --check  # regenerate into a temp folder; exit 1 with a diff on drift

The generator and its ruff post-hooks are pinned in pyproject.toml; both run from this
interpreter's environment so the output does not depend on whatever else is on PATH.
"""

from __future__ import annotations

import argparse
import difflib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "openapi" / "tapti.yaml"
CONFIG = ROOT / "openapi" / "generator-config.yaml"
PACKAGE = "tapti_api_client"
TARGET = ROOT / "generated" / PACKAGE


def generate_into(folder: Path) -> Path:
    """Run the generator into ``folder`` and return the package directory it wrote."""
    out = folder / PACKAGE
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    command = [
        str(bin_dir / "openapi-python-client"),
        "generate",
        "--path",
        str(SPEC),
        "--config",
        str(CONFIG),
        "--meta",
        "none",
        "--output-path",
        str(out),
        "--fail-on-warning",
    ]
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        sys.stderr.write(result.stdout + result.stderr)
        raise SystemExit(f"openapi-python-client failed (exit {result.returncode})")
    # --meta none writes no py.typed; the package is typed, so ship the marker.
    (out / "py.typed").write_text("")
    return out


def tree(folder: Path) -> dict[str, str]:
    return {
        path.relative_to(folder).as_posix(): path.read_text(encoding="utf-8")
        for path in sorted(folder.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts
    }


def diff(committed: dict[str, str], fresh: dict[str, str]) -> list[str]:
    lines: list[str] = []
    for name in sorted(committed.keys() | fresh.keys()):
        old, new = committed.get(name, ""), fresh.get(name, "")
        if old != new:
            lines += difflib.unified_diff(
                old.splitlines(keepends=True),
                new.splitlines(keepends=True),
                fromfile=f"committed/{name}" if name in committed else "/dev/null",
                tofile=f"from-spec/{name}" if name in fresh else "/dev/null",
            )
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="fail with a diff if generated/ is stale"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tapti-gen-") as tmp:
        fresh = generate_into(Path(tmp))
        if args.check:
            changes = diff(tree(TARGET) if TARGET.exists() else {}, tree(fresh))
            if changes:
                sys.stdout.writelines(changes)
                print(
                    f"\n{TARGET.relative_to(ROOT)} differs from what {SPEC.relative_to(ROOT)} "
                    "produces. Run `make generate`, review the diff and commit it.",
                    file=sys.stderr,
                )
                return 1
            print(f"{TARGET.relative_to(ROOT)} is up to date with {SPEC.relative_to(ROOT)}.")
            return 0
        shutil.rmtree(TARGET, ignore_errors=True)
        shutil.copytree(fresh, TARGET)
    print(f"Regenerated {TARGET.relative_to(ROOT)} from {SPEC.relative_to(ROOT)}.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
