"""``make dist``: build the sdist and the wheel as a release would, and check them.

1. ``python -m build``: the sdist, then the wheel built *from that sdist* (what a user who
   installs from the sdist gets), into ``dist/``;
2. ``python -m build --wheel``: a wheel built straight from the checkout, into a scratch folder;
3. both wheels must hold the same files with the same bytes, so nothing the wheel needs is
   missing from the sdist (and nothing reaches the wheel only from the checkout);
4. ``twine check --strict`` on both files of ``dist/``: the metadata and README PyPI would show.

Builds run with ``--no-isolation``: the backend is the dev environment's hatchling, pinned by
constraints.txt, so a build does not depend on whichever hatchling the index serves that day.
Exits 1, saying what differs, when a check fails.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DIST = ROOT / "dist"


def run(argv: list[str]) -> None:
    proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{proc.stdout}{proc.stderr}")


def build(outdir: Path, *only: str) -> None:
    run([sys.executable, "-m", "build", "--no-isolation", *only, "--outdir", str(outdir), "."])


def only_file(folder: Path, pattern: str) -> Path:
    found = sorted(folder.glob(pattern))
    if len(found) != 1:
        raise SystemExit(f"expected one {pattern} in {folder}, found {[p.name for p in found]}")
    return found[0]


def contents(wheel: Path) -> dict[str, str]:
    """Every file in the wheel, by name, with the SHA-256 of its bytes."""
    with zipfile.ZipFile(wheel) as archive:
        return {
            name: hashlib.sha256(archive.read(name)).hexdigest()
            for name in archive.namelist()
            if not name.endswith("/")
        }


def differences(from_sdist: dict[str, str], direct: dict[str, str]) -> list[str]:
    """What tells the two wheels apart: files only one holds, then files whose bytes differ."""
    problems = [
        f"only in the wheel built from the sdist: {n}"
        for n in sorted(from_sdist.keys() - direct.keys())
    ]
    problems += [
        f"missing from the wheel built from the sdist: {n}"
        for n in sorted(direct.keys() - from_sdist.keys())
    ]
    problems += [
        f"differs between the two wheels: {name}"
        for name in sorted(from_sdist.keys() & direct.keys())
        if from_sdist[name] != direct[name]
    ]
    return problems


def main() -> int:
    shutil.rmtree(DIST, ignore_errors=True)
    build(DIST)  # the sdist, then the wheel from it
    sdist, wheel = only_file(DIST, "*.tar.gz"), only_file(DIST, "*.whl")
    with tempfile.TemporaryDirectory(prefix="tapti-dist-") as scratch:
        build(Path(scratch), "--wheel")
        direct = only_file(Path(scratch), "*.whl")
        files = contents(wheel)
        problems = differences(files, contents(direct))
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 1
    print(f"{wheel.name} built from the sdist holds the same {len(files)} files as a direct build")
    run([sys.executable, "-m", "twine", "check", "--strict", str(sdist), str(wheel)])
    print(f"twine check --strict passed: {sdist.name}, {wheel.name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
