"""Regenerate the low-level client from openapi/tapti.yaml, or check the committed copy is current.

    python scripts/generate.py          # rewrite generated/tapti_api_client and the mock's spec
    python scripts/generate.py --check  # regenerate into a temp folder; exit 1 with a diff on drift

The generator and its ruff post-hooks are pinned in pyproject.toml; both run from this
interpreter's environment so the output does not depend on whatever else is on PATH.

It also writes tapti_ext/testing/_openapi.json, a JSON copy of the spec: the mock server
(shipped in the wheel) validates requests and builds responses from it, without needing pyyaml;
and tapti_ext/_names.py, the spec's enums as Literal types and the API key's header
(scripts/enum_literals.py).
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from description import load_description  # sibling scripts, not a package
from enum_literals import SpecError, literal_module

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "openapi" / "tapti.yaml"
CONFIG = ROOT / "openapi" / "generator-config.yaml"
# Templates that replace the generator's own of the same name, and modules copied beside them.
TEMPLATES = ROOT / "openapi" / "templates"
# The generated enums' _missing_ imports it: values the API added later are kept (see the file).
COPIED = ("_unknown.py",)
PACKAGE = "tapti_api_client"
TARGET = ROOT / "generated" / PACKAGE
SPEC_JSON = ROOT / "tapti_ext" / "testing" / "_openapi.json"
# The spec's enums as Literal types and the key header, for tapti_ext (scripts/enum_literals.py).
NAMES = ROOT / "tapti_ext" / "_names.py"


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
        "--custom-template-path",
        str(TEMPLATES),
        "--fail-on-warning",
    ]
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        sys.stderr.write(result.stdout + result.stderr)
        raise SystemExit(f"openapi-python-client failed (exit {result.returncode})")
    # --meta none writes no py.typed; the package is typed, so ship the marker.
    (out / "py.typed").write_text("")
    for name in COPIED:
        shutil.copyfile(TEMPLATES / name, out / name)
    to_httpx2(out, bin_dir)
    return out


# openapi-python-client 0.29.1 writes ``import httpx``; the SDK runs on httpx2 (same API, the
# maintained line). Only the module name changes: ``import httpx`` and ``httpx.<Name>``, never
# ``get_httpx_client`` or ``httpx_args``, which are the generated client's own API.
_HTTPX_IMPORT = re.compile(r"^import httpx$", re.MULTILINE)
_HTTPX_NAME = re.compile(r"(?<![\w.])httpx\.(?=[A-Za-z_])")
# Any other import of httpx or httpcore (a new generator's "from httpx import ..."): the rewrite
# above did not foresee it, so generation stops rather than ship a package on the old stack.
_OLD_STACK_IMPORT = re.compile(r"^\s*(?:import|from)\s+(?:httpx|httpcore)\b(?!2)", re.MULTILINE)


def to_httpx2(package: Path, bin_dir: Path) -> None:
    """Point the generated modules at httpx2, then format them again as the generator did."""
    for path in sorted(package.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        new = _HTTPX_NAME.sub("httpx2.", _HTTPX_IMPORT.sub("import httpx2", text))
        left = _OLD_STACK_IMPORT.search(new)
        if left:
            found = left.group().strip()
            raise SystemExit(
                f"{path.relative_to(package)} still imports the old stack ({found!r}); "
                "extend scripts/generate.py's rewrite to httpx2"
            )
        if new != text:
            path.write_text(new, encoding="utf-8")
    for command in (["check", ".", "--fix-only"], ["format", "."]):
        subprocess.run(
            [str(bin_dir / "ruff"), *command, "--no-cache", "--isolated", "--quiet"],
            cwd=package,
            check=True,
        )


def spec_as_json() -> str:
    """The spec as the JSON text the mock server reads (no YAML reader at run time), read as
    the generator reads it (``description``: YAML 1.2, timestamps as written)."""
    document = load_description(SPEC.read_text(encoding="utf-8"))
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


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
        if old == new == "" and (name in committed) != (name in fresh):
            # An empty file added or removed (py.typed: the package's types) shows no line.
            side = "only committed" if name in committed else "missing from the commit"
            lines.append(f"{name}: empty, {side}\n")
        elif old != new:
            lines += difflib.unified_diff(
                old.splitlines(keepends=True),
                new.splitlines(keepends=True),
                fromfile=f"committed/{name}" if name in committed else "/dev/null",
                tofile=f"from-spec/{name}" if name in fresh else "/dev/null",
            )
    return lines


def derived_files() -> dict[Path, str]:
    """The files besides generated/ that come from the spec, with what they must hold."""
    text = spec_as_json()
    try:
        names = literal_module(json.loads(text))
    except SpecError as exc:
        raise SystemExit(f"{SPEC.name}: {exc}") from None
    return {SPEC_JSON: text, NAMES: names}


def check(fresh: Path) -> int:
    changes = diff(tree(TARGET) if TARGET.exists() else {}, tree(fresh))
    for path, text in derived_files().items():
        name = path.relative_to(ROOT).as_posix()
        committed = path.read_text(encoding="utf-8") if path.exists() else None
        changes += diff({name: committed} if committed is not None else {}, {name: text})
    outputs = ", ".join(p.relative_to(ROOT).as_posix() for p in [TARGET, *derived_files()])
    if changes:
        sys.stdout.writelines(changes)
        print(
            f"\nOne of {outputs} differs from what {SPEC.relative_to(ROOT)} produces. "
            "Run `make generate`, review the diff and commit it.",
            file=sys.stderr,
        )
        return 1
    print(f"{outputs} are up to date with {SPEC.relative_to(ROOT)}.")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="fail with a diff if generated/ is stale"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tapti-gen-") as tmp:
        fresh = generate_into(Path(tmp))
        if args.check:
            return check(fresh)
        shutil.rmtree(TARGET, ignore_errors=True)
        shutil.copytree(fresh, TARGET)
    for path, text in derived_files().items():
        path.write_text(text, encoding="utf-8")
    print(
        f"Regenerated {TARGET.relative_to(ROOT)} and its companions from {SPEC.relative_to(ROOT)}."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
