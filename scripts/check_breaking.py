"""Catch breaking API changes and make sure they ship as a new version with a CHANGELOG entry.

    python scripts/check_breaking.py            # make check-breaking
    python scripts/check_breaking.py --release  # make release-spec: snapshot the spec as released

The check compares openapi/tapti.yaml with openapi/released/tapti.yaml, the spec of the last
release (whose version is in openapi/released/VERSION), using Optic (`optic diff --check`, pinned
in package.json) with the standard in scripts/optic/standard.yml. It fails when

- Optic finds a breaking change and tapti_ext/_version.py was not bumped past the released
  version accordingly (semver: a new major; while the major is 0, a new minor is enough);
- the version differs from the released one and CHANGELOG.md has no `## [X.Y.Z]` entry for it;
- the version went backwards, or Optic did not run cleanly (exit 2: a tool failure is never
  taken for "no breaking change").

Optic runs offline: no login, no telemetry, no update check.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from packaging.version import InvalidVersion, Version

ROOT = Path(__file__).resolve().parent.parent
SPEC = Path("openapi/tapti.yaml")
RELEASED_SPEC = Path("openapi/released/tapti.yaml")
RELEASED_VERSION = Path("openapi/released/VERSION")
VERSION_FILE = Path("tapti_ext/_version.py")
CHANGELOG = Path("CHANGELOG.md")
STANDARD = Path("scripts/optic/standard.yml")
OPTIC = Path("node_modules/.bin/optic")
OPTIC_TIMEOUT_SECONDS = 120

# Optic's telemetry (Sentry, Segment) is off with OPTIC_TELEMETRY_LEVEL=off; update-notifier stays
# quiet and offline with NO_UPDATE_NOTIFIER. A diff of two files needs no login; OPTIC_TOKEN, the
# one credential Optic reads from the environment, is not passed on.
OPTIC_ENV = {"OPTIC_TELEMETRY_LEVEL": "off", "NO_UPDATE_NOTIFIER": "1", "NO_COLOR": "1"}
CHECKS_LINE = re.compile(r"Checks:\s*(\d+)/(\d+) passed")
ANSI = re.compile(r"\x1b\[[0-9;]*m")
# What Optic prints (and then carries on without) when a ruleset of the standard did not load.
RULESET_TROUBLE = re.compile(r"ruleset .*(failed|does not exist|configuration errors)", re.I)


class CheckFailedError(Exception):
    """The spec, version and CHANGELOG disagree: exit 1 with the message."""


class ToolFailedError(Exception):
    """Optic could not give an answer: exit 2 with the message."""


@dataclass(frozen=True)
class OpticResult:
    breaking: bool
    output: str


def package_version(root: Path) -> Version:
    """tapti_ext/_version.py's __version__, read as text (importing the package is not needed)."""
    text = (root / VERSION_FILE).read_text(encoding="utf-8")
    match = re.search(r"""^__version__\s*=\s*["']([^"']+)["']""", text, re.M)
    if match is None:
        raise ToolFailedError(f"{VERSION_FILE} defines no __version__")
    return parse_version(match.group(1), VERSION_FILE)


def versions(root: Path) -> tuple[Version, Version]:
    """The package's version and the released one; a version never goes backwards."""
    current, released = package_version(root), released_version(root)
    if current < released:
        raise CheckFailedError(f"{VERSION_FILE} says {current}, older than the released {released}")
    return current, released


def released_version(root: Path) -> Version:
    return parse_version(
        (root / RELEASED_VERSION).read_text(encoding="utf-8").strip(), RELEASED_VERSION
    )


def parse_version(text: str, source: Path) -> Version:
    try:
        return Version(text)
    except InvalidVersion:
        raise ToolFailedError(f"{source}: {text!r} is not a version") from None


def required_for_breaking(released: Version) -> Version:
    """The lowest version that may carry a breaking change after ``released`` (semver)."""
    if released.major == 0:
        return Version(f"0.{released.minor + 1}.0")
    return Version(f"{released.major + 1}.0.0")


def has_changelog_entry(root: Path, version: Version) -> bool:
    """Whether CHANGELOG.md has a Keep a Changelog heading for ``version``: ``## [X.Y.Z]``."""
    path = root / CHANGELOG
    if not path.is_file():
        return False
    heading = re.compile(rf"^## \[{re.escape(str(version))}\]", re.M)
    return heading.search(path.read_text(encoding="utf-8")) is not None


def optic_env() -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key != "OPTIC_TOKEN"}
    return {**env, **OPTIC_ENV}


def run_optic(root: Path) -> OpticResult:
    """``optic diff RELEASED SPEC --check`` with this project's standard, read strictly."""
    optic = root / OPTIC
    if not os.access(optic, os.X_OK):
        raise ToolFailedError(f"{OPTIC} is missing: run `make install` (it runs npm ci)")
    command = [str(optic), "diff", str(RELEASED_SPEC), str(SPEC), "--check"]
    command += ["--standard", str(STANDARD)]
    try:
        result = subprocess.run(
            command,
            cwd=root,  # the standard names its local ruleset relative to the repository root
            env=optic_env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=OPTIC_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise ToolFailedError(f"optic did not finish within {OPTIC_TIMEOUT_SECONDS} s") from None
    return read_optic(result.returncode, ANSI.sub("", result.stdout), ANSI.sub("", result.stderr))


def read_optic(returncode: int, stdout: str, stderr: str) -> OpticResult:
    """Breaking or not, from Optic's exit code and check count; anything else is a tool failure.

    Optic exits 1 both for failed checks and when it crashes, and it drops a ruleset that does not
    load with only a warning; so the answer is taken only when the exit code, the "Checks: N/M
    passed" line and a clean load all agree.
    """
    output = stdout + stderr
    counts = CHECKS_LINE.search(stdout)
    if RULESET_TROUBLE.search(output) or counts is None or returncode not in (0, 1):
        raise ToolFailedError(f"optic did not run cleanly (exit {returncode}):\n{output}")
    passed, total = int(counts.group(1)), int(counts.group(2))
    if (returncode == 1) != (passed < total):
        raise ToolFailedError(f"optic's exit {returncode} contradicts its checks:\n{output}")
    return OpticResult(breaking=passed < total, output=stdout)


def check(root: Path) -> str:
    """Run the whole check; return the verdict, or raise CheckFailedError/ToolFailedError."""
    current, released = versions(root)
    if current != released and not has_changelog_entry(root, current):
        raise CheckFailedError(f"{CHANGELOG} has no '## [{current}] - YYYY-MM-DD' entry")
    result = run_optic(root)
    sys.stdout.write(result.output)
    if not result.breaking:
        return f"no breaking change since {released}"
    needed = required_for_breaking(released)
    if current < needed:
        raise CheckFailedError(
            f"breaking change since {released} (see above): set __version__ in {VERSION_FILE} "
            f"to {needed} or later and describe the change under '## [{needed}]' in {CHANGELOG}"
        )
    return f"breaking change since {released}, released as {current} with a CHANGELOG entry"


def release(root: Path) -> str:
    """Record the current spec as the one released with the current version."""
    current, released = versions(root)
    same_spec = (root / SPEC).read_bytes() == (root / RELEASED_SPEC).read_bytes()
    if current == released and not same_spec:
        raise CheckFailedError(
            f"the spec changed but {VERSION_FILE} still says the released {released}: "
            "bump the version (and add its CHANGELOG entry) before recording a release"
        )
    if not has_changelog_entry(root, current):
        raise CheckFailedError(f"{CHANGELOG} has no '## [{current}]' entry: add it first")
    shutil.copyfile(root / SPEC, root / RELEASED_SPEC)
    (root / RELEASED_VERSION).write_text(f"{current}\n", encoding="utf-8")
    return f"{RELEASED_SPEC} is now the spec of {current}: commit it with the release"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--release", action="store_true", help="snapshot openapi/tapti.yaml as the released spec"
    )
    args = parser.parse_args(argv)
    try:
        verdict = release(ROOT) if args.release else check(ROOT)
    except CheckFailedError as exc:
        sys.stderr.write(f"check-breaking: FAILED: {exc}\n")
        return 1
    except (ToolFailedError, FileNotFoundError) as exc:
        sys.stderr.write(f"check-breaking: ERROR: {exc}\n")
        return 2
    sys.stdout.write(f"check-breaking: OK: {verdict}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
