"""The parts of `make dist`, `make matrix` and `make bench` that decide pass or fail on their own.

The scripts live in scripts/, outside any package, so each is loaded from its file.
"""

from __future__ import annotations

import importlib.util
import sys
import zipfile
from pathlib import Path
from types import ModuleType

import pytest

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"


def load(relative: str) -> ModuleType:
    path = SCRIPTS / relative
    spec = importlib.util.spec_from_file_location(f"_under_test_{path.stem}", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


dist = load("dist.py")
matrix = load("matrix.py")
importtime = load("bench/importtime.py")


def make_wheel(path: Path, files: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return path


def test_dist_names_every_difference_between_the_wheels(tmp_path: Path) -> None:
    common = {"tapti_ext/__init__.py": b"x = 1\n", "tapti_ext/py.typed": b""}
    from_sdist = make_wheel(
        tmp_path / "a.whl", {**common, "tapti_ext/_portal.py": b"a\n", "stray.txt": b"!"}
    )
    direct = make_wheel(
        tmp_path / "b.whl", {**common, "tapti_ext/_portal.py": b"b\n", "tapti_ext/_call.py": b""}
    )
    assert dist.differences(dist.contents(from_sdist), dist.contents(direct)) == [
        "only in the wheel built from the sdist: stray.txt",
        "missing from the wheel built from the sdist: tapti_ext/_call.py",
        "differs between the two wheels: tapti_ext/_portal.py",
    ]
    assert dist.differences(dist.contents(direct), dist.contents(direct)) == []


def test_matrix_says_which_python_is_missing_and_how_to_get_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "versions" / "3.98.1").mkdir(parents=True)  # another version, and no binary
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path))
    assert matrix.main(["--versions", "3.98,3.99"]) == 2
    err = capsys.readouterr().err
    assert "Python 3.98 is missing" in err
    assert "pyenv install 3.98" in err
    assert "pyenv install 3.99" in err


def test_matrix_takes_the_newest_patch_release_from_pyenv(tmp_path: Path) -> None:
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    for build in ("2", "10", "9"):  # numeric order: 10 is the newest, not 9
        binary = tmp_path / "versions" / f"{version}.{build}" / "bin" / f"python{version}"
        binary.parent.mkdir(parents=True)
        binary.symlink_to(sys.executable)
    (tmp_path / "versions" / f"{version}-dev").mkdir()  # not a release: never chosen
    found = matrix.find_interpreter(version, tmp_path)
    assert found == tmp_path / "versions" / f"{version}.10" / "bin" / f"python{version}"


def test_matrix_passes_what_follows_the_double_dash_to_pytest() -> None:
    args, pytest_args = matrix.parse_args(
        ["--versions", "3.12", "--", "tests/test_portal.py", "-x"]
    )
    assert args.versions == "3.12"
    assert pytest_args == ["tests/test_portal.py", "-x"]
    assert matrix.parse_args([])[1] == []


IMPORTTIME = """\
import time: self [us] | cumulative | imported package
import time:       900 |        900 | _io
import time:      2000 |       2000 | attr._make
import time:       500 |       2500 |   attr
import time:       300 |        300 | tapti_ext._call
import time:       100 |        400 | tapti_ext
"""


def test_importtime_keeps_each_module_s_best_run_and_groups_by_package() -> None:
    slower = IMPORTTIME.replace(
        "  2000 |       2000 | attr._make", "  2600 |       2600 | attr._make"
    )
    sdk = importtime.best_of([importtime.parse(slower), importtime.parse(IMPORTTIME)])
    assert sdk["attr._make"] == 2000
    baseline = importtime.parse("import time:       800 |        800 | _io\n")
    extra = importtime.beyond(sdk, baseline)
    assert extra["modules"] == 4
    assert extra["self_ms"] == pytest.approx(2.9)
    assert [(p["package"], p["modules"]) for p in extra["by_package"]] == [
        ("attr", 2),
        ("tapti_ext", 2),
    ]
    assert extra["costliest"][0] == {"module": "attr._make", "self_ms": 2.0}
