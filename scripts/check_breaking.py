"""Catch breaking API changes and make sure they ship as a new version with a CHANGELOG entry.

    python scripts/check_breaking.py            # make check-breaking
    python scripts/check_breaking.py --release  # make release-spec: snapshot the spec as released

The check compares openapi/tapti.yaml with openapi/released/tapti.yaml, the spec of the last
release (whose version is in openapi/released/VERSION), twice:

- the HTTP contract, with Optic (`optic diff --check`, pinned in package.json) and the standard in
  scripts/optic/standard.yml;
- the SDK surface, with scripts/sdk_surface.py: the operation functions, model and enum classes,
  enum members and constructor arguments the generator makes of the spec, the API-key header and
  the security schemes. Optic sees none of these: renaming an operationId breaks every import of
  its function and still passes an HTTP diff.

It fails when

- either finds a breaking change and ``__version__`` (tapti_ext/__init__.py) was not bumped past
  the released version accordingly (semver: a new major; while the major is 0, a new minor is
  enough);
- the version differs from the released one and CHANGELOG.md has no `## [X.Y.Z]` entry for it,
  or the entry has no text (a bare heading announces nothing);
- the entry does not name every SDK name that broke (`create_sdk_token`, `Scope`, `x-api-key`):
  each further breaking change made after the bump needs its own mention;
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
import tempfile
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from packaging.version import InvalidVersion, Version
from ruamel.yaml import YAMLError

sys.path.insert(0, str(Path(__file__).resolve().parent))
from description import load_description  # sibling scripts, not a package
from sdk_surface import (
    Break,
    as_released_path_names,
    breaking_changes,
)

ROOT = Path(__file__).resolve().parent.parent
SPEC = Path("openapi/tapti.yaml")
RELEASED_SPEC = Path("openapi/released/tapti.yaml")
RELEASED_VERSION = Path("openapi/released/VERSION")
VERSION_FILE = Path("tapti_ext/__init__.py")
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
    """tapti_ext/__init__.py's __version__, read as text (importing the package is not needed)."""
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


def changelog_section(root: Path, version: Version | str) -> str | None:
    """The text of CHANGELOG.md's ``## [X.Y.Z]`` entry (Keep a Changelog), up to the next ``## ``
    heading; ``None`` when there is no such heading."""
    path = root / CHANGELOG
    if not path.is_file():
        return None
    text = path.read_text(encoding="utf-8")
    heading = re.compile(rf"^## \[{re.escape(str(version))}\][^\n]*$", re.M)
    found = heading.search(text)
    if found is None:
        return None
    following = re.compile(r"^## ", re.M).search(text, found.end())
    return text[found.end() : following.start() if following else len(text)]


def says_something(section: str) -> bool:
    """Whether an entry has a line that is neither blank nor a ``### Changed``-style heading."""
    return any(line.strip() and not line.lstrip().startswith("#") for line in section.splitlines())


def unnamed(section: str, broken: list[Break]) -> list[str]:
    """The broken names the entry does not mention, each as a whole word (``Scope``, not
    ``ScopeName``; ``x-api-key``, not ``x-api-key-2``)."""
    return sorted(
        {
            item.name
            for item in broken
            if not re.search(rf"(?<![\w-]){re.escape(item.name)}(?![\w-])", section)
        }
    )


def require_entry(root: Path, version: Version) -> str:
    """The text of ``version``'s CHANGELOG entry, which must exist and say something."""
    section = changelog_section(root, version)
    if section is None:
        raise CheckFailedError(f"{CHANGELOG} has no '## [{version}] - YYYY-MM-DD' entry")
    if not says_something(section):
        raise CheckFailedError(
            f"the '## [{version}]' entry of {CHANGELOG} is empty: say what changed for users"
        )
    return section


def require_release_recorded(root: Path, current: Version, released: Version) -> None:
    """A version whose entry is dated while later changes gather under ``[Unreleased]`` has
    been released: its spec must be the base of the check, or a breaking change made since
    would pass as that version's."""
    if current == released or changelog_section(root, current) is None:
        return
    if says_something(changelog_section(root, "Unreleased") or ""):
        raise CheckFailedError(
            f"{current} is released (its '## [{current}]' entry is dated and later changes are "
            f"under '## [Unreleased]'), but {RELEASED_VERSION} still says {released}: record "
            f"{current}'s spec (`make release-spec` while openapi/tapti.yaml is the released one)"
        )


def load_yaml(path: Path) -> dict[str, Any]:
    """The description as the generator reads it (``description``), JSON media types bare."""
    try:
        document = load_description(path.read_text(encoding="utf-8"))
    except YAMLError as exc:
        raise ToolFailedError(f"{path} is not valid YAML: {exc}") from None
    if not isinstance(document, dict):
        raise ToolFailedError(f"{path} is not an OpenAPI document")
    bare: dict[str, Any] = _bare_json_media(document)
    return bare


def sdk_breaks(root: Path) -> list[Break]:
    """What breaks for code written against the released SDK (scripts/sdk_surface.py)."""
    return breaking_changes(load_yaml(root / RELEASED_SPEC), load_yaml(root / SPEC))


def describe(broken: list[Break], released: Version) -> str:
    if not broken:
        return f"SDK surface: no breaking change since {released}\n"
    lines = [f"  - {item.name}: {item.what}\n" for item in broken]
    header = f"SDK surface: {len(broken)} breaking change(s) since {released}:\n"
    return header + "".join(lines)


def optic_env() -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key != "OPTIC_TOKEN"}
    return {**env, **OPTIC_ENV}


def run_optic(root: Path) -> OpticResult:
    """``optic diff RELEASED SPEC --check`` with this project's standard, read strictly."""
    optic = root / OPTIC
    if not os.access(optic, os.X_OK):
        raise ToolFailedError(f"{OPTIC} is missing: run `make install` (it runs npm ci)")
    with tempfile.TemporaryDirectory() as scratch:
        return _run_optic(optic, root, *_specs_for_optic(root, Path(scratch)))


class _Plain(yaml.SafeDumper):
    """YAML with no anchors or aliases: each node written out where it stands."""

    def ignore_aliases(self, data: Any) -> bool:  # noqa: ARG002
        return True


def _specs_for_optic(root: Path, scratch: Path) -> tuple[Path, Path]:
    """Both specs as the generator reads them (``load_yaml``), written out plainly: Optic's YAML
    reader applies no merge keys (``<<:``), so a field narrowed through one passed, and a
    refactor into anchors failed (probe 31). In the current one, path parameters bear their
    released names (``as_released_path_names``: Optic prints no checks for such a rename)."""
    released = load_yaml(root / RELEASED_SPEC)
    wire, renames = as_released_path_names(released, load_yaml(root / SPEC))
    if renames:
        names = ", ".join(f"{new} as {old}" for new, old in sorted(renames.items()))
        sys.stdout.write(
            f"Optic compares {SPEC} with its path parameters named as released: {names}\n"
        )
    written = []
    for document, name in ((released, "released.yaml"), (wire, SPEC.name)):
        path = scratch / name
        plain = yaml.dump(document, Dumper=_Plain, sort_keys=False)
        path.write_text(plain, encoding="utf-8")
        written.append(path)
    return written[0], written[1]


def _bare_json_media(node: Any) -> Any:
    """``node`` with each JSON media type written bare: the generator reads
    ``application/json; charset=utf-8`` as JSON, where Optic took it for a removed body and the
    SDK surface, which looks for ``application/json``, for none."""
    if isinstance(node, list):
        return [_bare_json_media(item) for item in node]
    if not isinstance(node, dict):
        return node
    bare = {key: _bare_json_media(value) for key, value in node.items()}
    if isinstance(bare.get("content"), dict):
        media: dict[Any, Any] = {}
        for kind, content in bare["content"].items():
            json_kind = str(kind).partition(";")[0].strip().lower() == "application/json"
            media.setdefault("application/json" if json_kind else kind, content)
        bare["content"] = media
    return bare


def _run_optic(optic: Path, root: Path, released: Path, spec: Path) -> OpticResult:
    command = [str(optic), "diff", str(released), str(spec), "--check"]
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
    require_release_recorded(root, current, released)
    section = require_entry(root, current) if current != released else ""
    # The SDK's own list first: it stays on screen when Optic then fails as a tool (it prints
    # no checks when a path parameter is renamed).
    broken = sdk_breaks(root)
    sys.stdout.write(describe(broken, released))
    result = run_optic(root)
    sys.stdout.write(result.output)
    if not result.breaking and not broken:
        return f"no breaking change since {released}"
    needed = required_for_breaking(released)
    names = ", ".join(unnamed("", broken))
    naming = f", naming {names}" if names else ""
    if current < needed:
        raise CheckFailedError(
            f"breaking change since {released} (see above): set __version__ in {VERSION_FILE} "
            f"to {needed} or later and describe the change under '## [{needed}]' in {CHANGELOG}"
            f"{naming}"
        )
    missing = unnamed(section, broken)
    if missing:
        raise CheckFailedError(
            f"the '## [{current}]' entry of {CHANGELOG} does not name what broke for SDK users: "
            f"{', '.join(missing)} (see above; mention each, e.g. `{missing[0]}`)"
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
    section = changelog_section(root, current)
    if section is None:
        raise CheckFailedError(f"{CHANGELOG} has no '## [{current}]' entry: add it first")
    if not says_something(section):
        raise CheckFailedError(f"the '## [{current}]' entry of {CHANGELOG} is empty: fill it in")
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
    except Exception:  # a description the check cannot read: never taken for a verdict
        traceback.print_exc()
        sys.stderr.write("check-breaking: ERROR: the check itself failed (above)\n")
        return 2
    sys.stdout.write(f"check-breaking: OK: {verdict}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
