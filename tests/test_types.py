"""Types that catch mistakes before running: a misspelt platform fails ``mypy --strict``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import get_args

import httpx2
import pytest
from tapti_api_client.models import Platform, Scope

from tapti_ext import InvalidInputError, PlatformName, ScopeName, SdkToken, Tapti

USER_CODE = """\
from tapti_ext import Platform, Tapti

def connect(tapti: Tapti) -> str:
    token = tapti.user("u1").create_sdk_token(
        platforms={platforms},
        scopes=["profile_read", "CONTENT_READ"],
        callback_url="https://app.example/cb",
        redirect_url="https://app.example/done",
    )
    sdk_token: str = token.sdk_token  # a str, never None
    return sdk_token
"""


def mypy_strict(tmp_path: Path, source: str) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "user_code.py"
    path.write_text(source)
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "--config-file=", str(path)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
        timeout=120,
    )


@pytest.mark.parametrize(
    "platforms", ['["youtube", Platform.TIKTOK]', '"LINKEDIN"', '("x", "instapro")']
)
def test_valid_names_type_check(tmp_path: Path, platforms: str) -> None:
    result = mypy_strict(tmp_path, USER_CODE.format(platforms=platforms))
    assert result.returncode == 0, result.stdout


def test_a_misspelt_platform_fails_the_type_checker(tmp_path: Path) -> None:
    result = mypy_strict(tmp_path, USER_CODE.format(platforms='["youtub"]'))
    assert result.returncode == 1
    assert "youtub" in result.stdout
    assert "user_code.py:5: error" in result.stdout  # the platforms= line


def test_literals_follow_the_generated_enums() -> None:
    # _names.py is written by `make generate`; this catches a hand edit or a stale copy.
    for literal, enum in ((PlatformName, Platform), (ScopeName, Scope)):
        values = {member.value for member in enum}
        expected = {v.lower() for v in values} | {v.upper() for v in values}
        assert set(get_args(literal)) == expected


def test_any_case_is_still_accepted_at_run_time() -> None:
    token = SdkToken("https://p.example/?sdk_token=t", (Platform.YOUTUBE,), (Scope.PROFILE_READ,))
    assert token.portal_url(platform="YouTube").endswith("platform=youtube")


@pytest.mark.anyio
async def test_the_message_names_httpx() -> None:
    async with httpx2.AsyncClient() as wrong:
        with pytest.raises(InvalidInputError, match=r"an httpx2\.Client, not httpx2\.AsyncClient"):
            Tapti(api_key="k", http_client=wrong)  # type: ignore[arg-type]
