"""``make matrix``: the test suite against the installed wheel, on Python 3.11, 3.12 and 3.13.

For each version, one after the other (the machine has two cores):

1. find the interpreter (pyenv's ``versions/3.X.*``, newest patch first, else ``python3.X`` on
   PATH); when one is missing, say which and how to get it, and fail before running any;
2. a fresh venv in a scratch folder, with the wheel from ``dist/`` (``make dist`` builds it) and
   its ``dev`` extra for the test tools, pinned by constraints.txt;
3. a copy of the checkout (tests, examples, openapi, generated, ...) whose ``tapti_ext/`` holds
   no Python file, only the data files some tests read by path, so the only ``tapti_ext`` the
   tests can import is the wheel's: a module missing from the wheel fails.
   ``node_modules`` is linked in for the Prism tests, and ``shared/`` beside the copy as beside
   the checkout. The copy's root is on ``PYTHONPATH`` for ``examples``;
4. pytest in the copy, with ``scripts/matrix_guard.py`` as a plugin that stops the run unless
   ``tapti_ext.__file__`` is in the venv's site-packages.

``--lowest`` (``make lowest``) proves the lower bounds in pyproject.toml instead: the wheel with
its runtime dependencies at the lowest versions allowed (uv's ``--resolution lowest-direct``),
then only the test tools, pinned, in a way that must leave those versions as they are (checked);
it runs the client, deadline, fork, raw and wire tests.

Left out: ``tests/test_packaging.py``, which builds a wheel from the checkout (the copy has no
package to build; ``make dist`` and ``make test`` cover it), and the benchmark smoke run (not a
pytest test; ``make test`` runs it). Arguments after ``--`` go to pytest, e.g.
``scripts/matrix.py --versions 3.12 -- tests/test_portal.py``.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DIST = ROOT / "dist"
GUARD = Path(__file__).resolve().parent / "matrix_guard.py"
VERSIONS = ("3.11", "3.12", "3.13")
# Not copied as they are: the package (only its data files are, see copy_checkout: the wheel must
# supply every module) and what is local to this checkout.
NOT_COPIED = {"tapti_ext", ".git", ".venv", "node_modules", ".bench", "dist", "build"}
PYTEST = ["-p", "no:cacheprovider", "-p", "tapti_matrix_guard", "--ignore=tests/test_packaging.py"]


def pyenv_root() -> Path | None:
    if os.environ.get("PYENV_ROOT"):
        return Path(os.environ["PYENV_ROOT"])
    if shutil.which("pyenv"):
        proc = subprocess.run(["pyenv", "root"], capture_output=True, text=True, check=False)
        if proc.returncode == 0 and proc.stdout.strip():
            return Path(proc.stdout.strip())
    return None


def patch_level(folder: Path) -> int:
    return int(folder.name.rsplit(".", 1)[1])


def find_interpreter(version: str, root: Path | None) -> Path | None:
    """The newest pyenv build of ``version`` (e.g. 3.12.*), else ``python3.12`` on PATH."""
    candidates: list[Path] = []
    if root is not None:
        pattern = re.compile(re.escape(version) + r"\.\d+")
        builds = [d for d in (root / "versions").glob(version + ".*") if pattern.fullmatch(d.name)]
        candidates += [
            d / "bin" / f"python{version}" for d in sorted(builds, key=patch_level, reverse=True)
        ]
    on_path = shutil.which(f"python{version}")
    candidates += [Path(on_path)] if on_path else []
    for candidate in candidates:
        if reports_version(candidate, version):
            return candidate
    return None


def reports_version(python: Path, version: str) -> bool:
    code = "import sys; print('%d.%d' % sys.version_info[:2])"
    try:
        proc = subprocess.run(
            [str(python), "-c", code], capture_output=True, text=True, timeout=30, check=False
        )
    except OSError:
        return False
    return proc.returncode == 0 and proc.stdout.strip() == version


def missing_message(missing: list[str], root: Path | None) -> str:
    """Which interpreters are missing, where they were looked for, and how to get them."""
    lines = []
    for version in missing:
        looked = f"no {root}/versions/{version}.* and " if root else "no pyenv, and "
        lines.append(
            f"make matrix: Python {version} is missing ({looked}no python{version} on PATH)"
        )
        lines.append(f"  get it with: pyenv install {version}   (or put python{version} on PATH)")
    lines.append("then run make matrix again; it tests " + ", ".join(VERSIONS))
    return "\n".join(lines)


def copy_checkout(work: Path) -> Path:
    """The checkout, its package with no Python file; ``node_modules``, ``shared/`` linked in."""
    tree = work / "repo"
    tree.mkdir()
    skip = shutil.ignore_patterns("__pycache__", "*.pyc", ".*_cache", ".hypothesis")
    for entry in ROOT.iterdir():
        if entry.name in NOT_COPIED or skip(str(ROOT), [entry.name]):
            continue
        if entry.is_dir():
            shutil.copytree(entry, tree / entry.name, ignore=skip, symlinks=True)
        else:
            shutil.copy2(entry, tree / entry.name)
    # Data files only (tests read e.g. testing/_openapi.json by path). With no __init__.py, this
    # folder can only be a namespace portion, and the wheel's regular package always wins over one.
    no_code = shutil.ignore_patterns("__pycache__", "*.py", "*.pyc")
    shutil.copytree(ROOT / "tapti_ext", tree / "tapti_ext", ignore=no_code)
    if (ROOT / "node_modules").is_dir():
        (tree / "node_modules").symlink_to(ROOT / "node_modules")
    if (ROOT.parent / "shared").is_dir():
        (work / "shared").symlink_to(ROOT.parent / "shared")
    plugins = work / "plugins"
    plugins.mkdir()
    shutil.copy2(GUARD, plugins / "tapti_matrix_guard.py")
    return tree


def make_venv(python: Path, wheel: Path, venv: Path) -> Path:
    """A fresh venv holding the wheel and its ``dev`` extra (the test tools), pinned."""
    venv_python = venv / "bin" / "python"
    constraints = str(ROOT / "constraints.txt")
    run([str(python), "-m", "venv", str(venv)])
    run([str(venv_python), "-m", "pip", "install", "-q", "-c", constraints, f"{wheel}[dev]"])
    return venv_python


# What `make lowest` runs: the tests of the code paths each runtime dependency serves.
LOWEST_TESTS = [
    "tests/test_client_calls.py",
    "tests/test_client_errors.py",
    "tests/test_client_real_http.py",
    "tests/test_client_retries.py",
    "tests/test_deadline.py",
    "tests/test_escape_hatches.py",
    "tests/test_fork_safety.py",
    "tests/test_httpx2_stack.py",
    "tests/test_only_tapti_errors.py",
    "tests/test_wire_safety.py",
]
LOWEST_TOOLS = ["pytest", "pytest-timeout", "hypothesis", "trio"]


def make_lowest_venv(python: Path, wheel: Path, venv: Path) -> Path:
    """A fresh venv: the wheel at its lowest allowed runtime dependencies, plus test tools."""
    uv = Path(sys.executable).parent / "uv"
    venv_python = venv / "bin" / "python"
    run([str(python), "-m", "venv", str(venv)])
    # The wheel's own requirements, given as direct ones: lowest-direct lowers only those.
    install = [str(uv), "pip", "install", "-q", "--python", str(venv_python)]
    run([*install, "--resolution", "lowest-direct", *runtime_requirements(wheel)])
    run([*install, "--no-deps", str(wheel)])
    lowest = freeze(venv_python)
    # The dev pins for the tools, the lowest versions for what is already installed.
    pins = [p for p in (ROOT / "constraints.txt").read_text().splitlines() if "==" in p]
    pins = [p for p in pins if p.partition("==")[0].lower() not in lowest]
    pins += [f"{name}=={version}" for name, version in lowest.items()]
    (venv / "tools-constraints.txt").write_text("\n".join(pins) + "\n")
    run([*install, "-c", str(venv / "tools-constraints.txt"), *LOWEST_TOOLS])
    changed = {n: v for n, v in lowest.items() if freeze(venv_python).get(n) != v}
    if changed:
        raise SystemExit(f"installing the test tools changed runtime dependencies: {changed}")
    print("lowest runtime dependencies:", ", ".join(f"{n} {v}" for n, v in lowest.items()))
    return venv_python


def runtime_requirements(wheel: Path) -> list[str]:
    """The wheel's Requires-Dist lines that no extra guards."""
    with zipfile.ZipFile(wheel) as archive:
        metadata = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        lines = archive.read(metadata).decode().splitlines()
    found = [line.partition(":")[2].strip() for line in lines if line.startswith("Requires-Dist:")]
    return [requirement for requirement in found if "extra ==" not in requirement]


def freeze(python: Path) -> dict[str, str]:
    proc = run([str(python), "-m", "pip", "list", "--format=freeze", "--exclude", "tapti"])
    pairs = (line.split("==") for line in proc.stdout.splitlines() if "==" in line)
    return {name.lower(): version for name, version in pairs if name.lower() not in {"pip"}}


def run(command: list[str]) -> subprocess.CompletedProcess[str]:
    # Quiet unless it fails: pip warns about this machine's index settings on every package.
    proc = subprocess.run(
        command, env=clean_env(), capture_output=True, text=True, timeout=1200, check=False
    )
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{proc.stdout}{proc.stderr}")
    return proc


def clean_env(pythonpath: str | None = None) -> dict[str, str]:
    dropped = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONUSERBASE", "VIRTUAL_ENV")
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    return env


def run_version(
    version: str, python: Path, wheel: Path, pytest_args: list[str], *, lowest: bool = False
) -> bool:
    """Venv, copy and pytest for one version, in a scratch folder removed afterwards."""
    print(f"\n=== Python {version}: {python} ===", flush=True)
    with tempfile.TemporaryDirectory(prefix=f"tapti-matrix-{version}-") as scratch:
        work = Path(scratch)
        build = make_lowest_venv if lowest else make_venv
        venv_python = build(python, wheel, work / "venv")
        if lowest:
            pytest_args = pytest_args or LOWEST_TESTS
        tree = copy_checkout(work)
        env = clean_env(os.pathsep.join([str(tree), str(work / "plugins")]))
        command = [str(venv_python), "-m", "pytest", *PYTEST, *pytest_args]
        proc = subprocess.run(command, cwd=tree, env=env, check=False, timeout=1800)
    return proc.returncode == 0


def parse_args(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    """Our options, and what follows ``--`` for pytest."""
    split = argv.index("--") if "--" in argv else len(argv)
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--versions", default=",".join(VERSIONS), help="e.g. 3.12,3.13")
    parser.add_argument(
        "--lowest", action="store_true", help="runtime dependencies at their lowest bounds"
    )
    return parser.parse_args(argv[:split]), argv[split + 1 :]


def interpreters(versions: list[str]) -> dict[str, Path] | None:
    """Each version's interpreter, or None after saying which are missing and how to get them."""
    root = pyenv_root()
    found = {version: find_interpreter(version, root) for version in versions}
    missing = [version for version, python in found.items() if python is None]
    if missing:
        print(missing_message(missing, root), file=sys.stderr)
        return None
    return {version: python for version, python in found.items() if python is not None}


def main(argv: list[str] | None = None) -> int:
    args, pytest_args = parse_args(sys.argv[1:] if argv is None else argv)
    found = interpreters([v.strip() for v in args.versions.split(",") if v.strip()])
    if found is None:
        return 2
    wheels = sorted(DIST.glob("tapti-*.whl"))
    if len(wheels) != 1:
        print(f"expected one wheel in {DIST} (run make dist), found {len(wheels)}", file=sys.stderr)
        return 2
    results: list[str] = []
    failed = False
    for version, python in found.items():
        started = time.monotonic()
        ok = run_version(version, python, wheels[0], pytest_args, lowest=args.lowest)
        failed |= not ok
        outcome = "passed" if ok else "FAILED"
        results.append(
            f"  Python {version} ({python}): {outcome} in {time.monotonic() - started:.0f} s"
        )
    print(f"\nmake matrix, {wheels[0].name} installed:", *results, sep="\n")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
