"""`make check-generated` catches drift, and regeneration is reproducible.

Both run scripts/generate.py in a scratch copy of the repository, so the checkout is never touched.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import tapti_ext

ROOT = Path(__file__).resolve().parent.parent


def scratch_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "repo"
    for folder in ("openapi", "scripts", "generated"):
        shutil.copytree(ROOT / folder, copy / folder, ignore=shutil.ignore_patterns("__pycache__"))
    # What generate.py writes besides generated/: the mock's spec copy and the enum Literals,
    # taken from the tapti_ext under test (the installed wheel, under make matrix).
    package = Path(tapti_ext.__file__).parent
    for derived in ("testing/_openapi.json", "_names.py"):
        target = copy / "tapti_ext" / derived
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(package / derived, target)
    return copy


def generate(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(repo / "scripts" / "generate.py"), *args],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def test_check_fails_with_a_diff_when_generated_code_was_edited(tmp_path: Path) -> None:
    repo = scratch_copy(tmp_path)
    edited = repo / "generated" / "tapti_api_client" / "models" / "platform.py"
    edited.write_text(edited.read_text() + "# edited by hand\n")
    result = generate(repo, "--check")
    assert result.returncode == 1
    assert "committed/models/platform.py" in result.stdout
    assert "-# edited by hand" in result.stdout
    assert "make generate" in result.stderr


def test_check_fails_when_an_empty_file_is_removed_or_added(tmp_path: Path) -> None:
    """A deleted py.typed left the check passing, and the package untyped (probe 31)."""
    repo = scratch_copy(tmp_path)
    package = repo / "generated" / "tapti_api_client"
    (package / "py.typed").unlink()
    (package / "api" / "users" / "stray.py").touch()
    result = generate(repo, "--check")
    assert result.returncode == 1
    assert "py.typed: empty, missing from the commit" in result.stdout
    assert "api/users/stray.py: empty, only committed" in result.stdout


def test_check_fails_when_the_spec_changes_and_generate_brings_it_back_in_line(
    tmp_path: Path,
) -> None:
    repo = scratch_copy(tmp_path)
    spec = repo / "openapi" / "tapti.yaml"
    text = spec.read_text().replace(
        "        - LINKEDIN\n", "        - LINKEDIN\n        - MASTODON\n"
    )
    # Another documented success: tapti_ext/_names.py lists each operation's 2xx statuses.
    default = "        default:\n"
    spec.write_text(
        text.replace(default, '        "201":\n          description: Created\n' + default)
    )
    drift = generate(repo, "--check")
    assert drift.returncode == 1
    assert '+    MASTODON = "MASTODON"' in drift.stdout
    assert "committed/tapti_ext/_names.py" in drift.stdout
    assert '+    ("POST", "/users/{id}/sdk-token", (200, 201)),' in drift.stdout
    assert '+    "mastodon",' in drift.stdout
    assert generate(repo).returncode == 0
    assert generate(repo, "--check").returncode == 0
    assert "(200, 201)" in (repo / "tapti_ext" / "_names.py").read_text()


def test_regeneration_is_byte_for_byte_reproducible(tmp_path: Path) -> None:
    repo = scratch_copy(tmp_path)
    package = repo / "generated" / "tapti_api_client"
    before = {p.relative_to(package): p.read_bytes() for p in package.rglob("*") if p.is_file()}
    assert generate(repo).returncode == 0
    after = {p.relative_to(package): p.read_bytes() for p in package.rglob("*") if p.is_file()}
    assert after == before
    assert not list(package.rglob(".ruff_cache"))
