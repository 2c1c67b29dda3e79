"""Types that catch mistakes before running: a misspelt platform fails ``mypy --strict``."""

from __future__ import annotations

import json
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


# --- tapti.call: typed by the operation --------------------------------------------------------

CALL_CODE = """\
from tapti_api_client.api.users import create_sdk_token
from tapti_api_client.models import CreateSdkTokenRequest

from tapti_ext import AsyncTapti, Tapti

def sync_call(tapti: Tapti, body: CreateSdkTokenRequest) -> None:
    parsed = {sync_call}
    reveal_type(parsed)
    print(parsed.oauth_portal_url{attribute})

async def async_call(tapti: AsyncTapti, body: CreateSdkTokenRequest) -> None:
    parsed = await {async_call}
    reveal_type(parsed)
    print(parsed.oauth_portal_url)
"""
RIGHT_CALL = 'tapti.call(create_sdk_token, "user_123", body=body)'
MODEL = "tapti_api_client.models.create_sdk_token_response.CreateSdkTokenResponse"


def call_code(
    sync_call: str = RIGHT_CALL, async_call: str = RIGHT_CALL, attribute: str = ""
) -> str:
    return CALL_CODE.format(sync_call=sync_call, async_call=async_call, attribute=attribute)


def _errors(output: str) -> list[str]:
    return [line for line in output.splitlines() if ": error:" in line or " - error:" in line]


@pytest.mark.parametrize(
    "options", ["", ", timeout=5", ", extra_body={'x': 1}", ", extra_headers={'x-a': 'b'}"]
)
def test_call_returns_the_operations_model_to_mypy(tmp_path: Path, options: str) -> None:
    # The success model: not Any, and neither the error body nor None (those are raised).
    call = f'tapti.call(create_sdk_token, "user_123", body=body{options})'
    result = mypy_strict(tmp_path, call_code(call, call))
    assert result.returncode == 0, result.stdout
    assert result.stdout.count(f'Revealed type is "{MODEL}"') == 2, result.stdout


@pytest.mark.parametrize(
    ("call", "said"),
    [
        ('tapti.call(create_sdk_token, "user_123", bdy=body)', '"bdy"'),
        ('tapti.call(create_sdk_token, "user_123")', '"call"'),  # no overload fits
        ("tapti.call(create_sdk_token, 123, body=body)", '"int"'),
        ('tapti.call(create_sdk_token, "user_123", body={"user_platforms": []})', "dict"),
    ],
    ids=["misspelt-keyword", "missing-argument", "wrong-path-type", "dict-body"],
)
def test_mypy_checks_the_operations_arguments(tmp_path: Path, call: str, said: str) -> None:
    result = mypy_strict(tmp_path, call_code(sync_call=call, async_call=call))
    assert result.returncode == 1, result.stdout
    errors = _errors(result.stdout)
    assert len(errors) == 2, result.stdout  # the sync and the async call, each on its line
    assert [e.split(":")[1] for e in errors] == ["7", "12"], result.stdout
    assert all(said in error for error in errors), result.stdout


def test_mypy_sees_a_wrong_attribute_of_the_result(tmp_path: Path) -> None:
    result = mypy_strict(tmp_path, call_code(attribute="x"))
    assert result.returncode == 1
    errors = _errors(result.stdout)
    assert {error.split(":")[1] for error in errors} == {"9"}, result.stdout
    assert '"CreateSdkTokenResponse" has no attribute "oauth_portal_urlx"' in errors[0]


def test_call_rejects_what_is_not_an_operation_module(tmp_path: Path) -> None:
    source = "import json\nfrom tapti_ext import Tapti\n\ndef f(t: Tapti) -> None:\n"
    source += "    t.call(json, 'u1')\n"
    result = mypy_strict(tmp_path, source)
    assert result.returncode == 1
    assert "user_code.py:5: error" in result.stdout


# pyright from PyPI runs the pyright npm package it ships with the machine's node.
PYRIGHT = Path(sys.executable).parent / "pyright"


def pyright_strict(tmp_path: Path, source: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "user_code.py").write_text(source)
    config = {"typeCheckingMode": "strict", "pythonVersion": "3.11", "include": ["user_code.py"]}
    (tmp_path / "pyrightconfig.json").write_text(json.dumps(config))
    return subprocess.run(
        [str(PYRIGHT), "--pythonpath", sys.executable, "user_code.py"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
        timeout=300,
    )


@pytest.fixture
def pyright_ready() -> None:
    if not PYRIGHT.exists():
        pytest.fail("pyright is not installed: it is in the dev extra (make install)")


@pytest.mark.usefixtures("pyright_ready")
def test_pyright_sees_the_operations_model_and_arguments(tmp_path: Path) -> None:
    right = pyright_strict(tmp_path, call_code())
    assert right.returncode == 0, right.stdout
    assert right.stdout.count('Type of "parsed" is "CreateSdkTokenResponse"') == 2, right.stdout
    call = 'tapti.call(create_sdk_token, "user_123", bdy=body)'
    wrong = pyright_strict(tmp_path, call_code(sync_call=call, async_call=call, attribute="x"))
    assert wrong.returncode == 1, wrong.stdout
    errors = _errors(wrong.stdout)
    assert sum('No parameter named "bdy"' in error for error in errors) == 2, wrong.stdout
    assert any('"oauth_portal_urlx"' in error for error in errors), wrong.stdout


HTTP_CLIENTS = """\
import httpx2
from tapti_ext import AsyncTapti, Tapti

Tapti("k", http_client=httpx2.Client())
AsyncTapti("k", http_client=httpx2.AsyncClient())
Tapti("k", http_client=httpx2.AsyncClient())
AsyncTapti("k", http_client=httpx2.Client())
"""


@pytest.mark.usefixtures("pyright_ready")
def test_each_client_takes_its_own_kind_of_http_client_for_both_type_checkers(
    tmp_path: Path,
) -> None:
    mypy = mypy_strict(tmp_path, HTTP_CLIENTS)
    assert mypy.returncode == 1
    for line in ("user_code.py:6: error", "user_code.py:7: error"):
        assert line in mypy.stdout, mypy.stdout
    assert mypy.stdout.count(": error:") == 2, mypy.stdout
    pyright = pyright_strict(tmp_path, HTTP_CLIENTS)
    assert pyright.returncode == 1
    errors = _errors(pyright.stdout)
    assert [error.split(":")[1] for error in errors] == ["6", "7"], pyright.stdout
