"""Issue 13's table, kept green: a changed spec reaches users after ``make generate`` alone.

In a temporary copy of the project (the spec, ``scripts/generate.py`` and ``tapti_ext``), the spec
gets the changes an API makes without breaking anyone: a new platform ``THREADS``, a new optional
request field ``expires_in`` (integer) and a new optional response field ``expires_at``
(date-time). The copy's generator writes its own ``generated/`` and the mock's JSON spec; then a
probe runs in a fresh interpreter whose ``PYTHONPATH`` holds only the copy, and each test below
checks one thing it saw. No file of ``tapti_ext`` is edited in the copy: that is the point.
The copy also gets a nested object in the token's answer (``delivery``, masked in every repr),
and serves a value the spec does not list (``MYSPACE``, kept); ``tapti.call`` on the new
operation is type-checked by mypy against the copy. A second copy makes new request and answer
fields required.

The breaking change of the table (the response becomes ``{"sdk_token": ...}``) needs no
regeneration: an old-shape body must give ``APIResponseValidationError``, never a bare
``KeyError``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx2
import pytest
import yaml
from tapti_api_client.api.users import create_sdk_token as create_sdk_token_operation
from tapti_api_client.models import CreateSdkTokenRequest, Platform, Scope

import tapti_ext
from tapti_ext import APIResponseValidationError, AsyncTapti, Tapti, UnprocessableEntityError
from tapti_ext.testing import MockTaptiServer

ROOT = Path(__file__).resolve().parent.parent
EXPIRES_AT = "2026-11-01T12:15:00Z"  # the example the changed spec shows for the new field
KEY = "spec-change-key"
CALL: dict[str, Any] = {
    "platforms": ["youtube"],
    "scopes": ["profile_read"],
    "callback_url": "https://app.example/api/oauth/callback",
    "redirect_url": "https://app.example/dashboard/accounts",
}
COPY_CALL: dict[str, Any] = {**CALL, "platforms": ["threads"]}  # only the copy knows THREADS
PLATFORM = "#/components/schemas/Platform"
DELIVERY = "#/components/schemas/Delivery"
NESTED_TOKEN = "tok_nested_Secret_42"  # made up
NESTED_URL = f"https://oauth.tapti.dev/?sdk_token={NESTED_TOKEN}&origin=https%3A%2F%2Fapp.example"
# The probe runs in the copy's interpreter. Each step records what it saw, or the exception,
# so that one failing step fails one test with its reason and leaves the others their verdict.
_STEP = """
def step(name, run):
    try:
        seen[name] = run()
    except Exception as exc:
        seen[name] = {"error": "".join(traceback.format_exception_only(exc)).strip()}
"""
_PROBE = (
    """
import json, sys, traceback
import tapti_api_client, tapti_ext
from tapti_ext import Tapti
from tapti_ext.testing import MockTaptiServer

given, key = json.loads(sys.argv[1]), sys.argv[2]
call = given["create"]
seen = {"tapti_ext": tapti_ext.__file__, "tapti_api_client": tapti_api_client.__file__}

"""
    + _STEP
    + """
def sent_and_answered(server):
    last = server.requests[-1]
    return {"json": last.json, "status": last.status}

def threads(tapti, server):
    token = tapti.user("u1").create_sdk_token(**call)
    return {
        "platforms": [p.value for p in token.platforms],
        "portal_url": token.portal_url(platform="threads"),
        "token_issued": token.sdk_token in server.issued_tokens,
        "request": sent_and_answered(server),
    }

tokens = []

def expires_in(tapti, server):
    tokens.append(tapti.user("u1").create_sdk_token(**call, extra_body={"expires_in": 900}))
    return {"request": sent_and_answered(server)}

def expires_at(tapti, server):
    token = tokens[0]
    value = token.response.expires_at
    return {
        "type": type(value).__name__,
        "value": value.isoformat(),
        "token_in_repr": token.sdk_token in repr(token.response),
    }

def bad_expires_in(tapti, server):
    try:
        tapti.user("u1").create_sdk_token(**call, extra_body={"expires_in": "x"})
    except Exception as exc:
        return {"type": type(exc).__name__, "mro": [c.__name__ for c in type(exc).__mro__],
                "status_code": getattr(exc, "status_code", None),
                "body": getattr(exc, "body", None), "request": sent_and_answered(server)}
    return {"type": None}

def second_operation(tapti, server):
    from tapti_api_client.api.users import list_accounts
    from tapti_ext import AuthenticationError, InternalServerError

    parsed = tapti.call(list_accounts, "u1")
    raw = list_accounts.sync_detailed("u2", client=tapti.raw)
    server.fail_next(1, status=401)
    try:
        tapti.call(list_accounts, "u3")
        unauthorised = None
    except AuthenticationError as exc:
        unauthorised = exc.status_code
    server.fail_next(1, status=502, body=b"<html>bad gateway</html>")
    try:
        list_accounts.sync_detailed("u4", client=tapti.raw)
        bad_gateway = None
    except InternalServerError as exc:
        bad_gateway = exc.status_code
    return {
        "parsed": type(parsed).__name__,
        "raw_status": int(raw.status_code),
        "raw_parsed": type(raw.parsed).__name__,
        "unauthorised": unauthorised,
        "bad_gateway": bad_gateway,
        "paths": [r.path for r in server.requests[-4:]],
    }

def unknown_enum_value(tapti, server):
    from tapti_api_client.api.users import list_accounts
    from tapti_api_client.models import Platform
    from tapti_ext import APIResponseValidationError

    server.fail_next(1, status=200, body={"accounts": ["THREADS", "MYSPACE"]})
    accounts = tapti.call(list_accounts, "u5").accounts
    try:
        Platform("MYSPACE")
        typed_by_user = None
    except ValueError as exc:
        typed_by_user = str(exc)
    server.fail_next(1, status=200, body={"accounts": ["THREADS", 5]})
    try:
        tapti.call(list_accounts, "u6")
        wrong_type = None
    except APIResponseValidationError as exc:
        wrong_type = type(exc).__name__
    return {
        "values": list(accounts),
        "classes": [type(account).__name__ for account in accounts],
        "known": [account in Platform.__members__.values() for account in accounts],
        "typed_by_user": typed_by_user,
        "wrong_type": wrong_type,
    }

def nested_token(tapti, server):
    from tapti_api_client.api.users import create_sdk_token
    from tapti_api_client.models import CreateSdkTokenRequest

    url = given["nested_url"]
    answer = {"oauth_portal_url": url, "delivery": {"portal_url": url, "links": [url, "x"]}}
    server.fail_next(2, status=200, body=answer)
    token = tapti.user("u1").create_sdk_token(**call)
    body = CreateSdkTokenRequest.from_dict(server.requests[-1].json)
    parsed = tapti.call(create_sdk_token, "u1", body=body)
    shown = [token, token.response, token.response.delivery, token.response.delivery.links,
             parsed, parsed.delivery]
    return {
        "reprs": [repr(value) for value in shown] + [str(value) for value in shown],
        "delivery": type(token.response.delivery).__name__,
        "read": [token.response.delivery.portal_url, parsed.delivery.links[0]],
    }

with MockTaptiServer(api_key=key) as server:
    with Tapti(api_key=key, base_url=server.url, max_retries=0) as tapti:
        steps = (threads, expires_in, expires_at, bad_expires_in, second_operation,
                 unknown_enum_value, nested_token)
        for run in steps:
            step(run.__name__, lambda: run(tapti, server))
print(json.dumps(seen))
"""
)


# --- the regenerated copy ----------------------------------------------------------------------


def _copy_project(root: Path) -> None:
    """What ``scripts/generate.py`` reads, runs and writes, and the package under test.

    ``tapti_ext`` is copied from where it is imported (the checkout, or an installed wheel when
    ``make matrix`` runs the suite), so the copy is always the code being tested.
    """
    shutil.copytree(ROOT / "openapi", root / "openapi")
    (root / "scripts").mkdir()
    for script in (ROOT / "scripts").glob("*.py"):  # generate.py imports its siblings
        shutil.copy2(script, root / "scripts" / script.name)
    package = Path(tapti_ext.__file__).resolve().parent
    shutil.copytree(package, root / "tapti_ext", ignore=shutil.ignore_patterns("__pycache__"))


def _change_spec(spec: Path) -> None:
    """The non-breaking changes of issue 13's table, made as a spec author would make them."""
    document = yaml.safe_load(spec.read_text(encoding="utf-8"))
    schemas = document["components"]["schemas"]
    schemas["Platform"]["enum"].append("THREADS")
    schemas["CreateSdkTokenRequest"]["properties"]["expires_in"] = {
        "type": "integer",
        "description": "Seconds until the SDK token expires.",
        # The generated model then always sends it: extra_body must still be able to set it.
        "default": 600,
    }
    schemas["CreateSdkTokenResponse"]["properties"]["expires_at"] = {
        "type": "string",
        "format": "date-time",
        "description": "When the SDK token expires.",
        # The mock puts an optional property in its answer when the spec shows an example of it.
        "examples": [EXPIRES_AT],
    }
    # A nested object that may carry the token again: masked in every repr all the same.
    schemas["CreateSdkTokenResponse"]["properties"]["delivery"] = {"$ref": DELIVERY}
    schemas["Delivery"] = {
        "type": "object",
        "properties": {
            "portal_url": {"type": "string", "format": "uri"},
            "links": {"type": "array", "items": {"type": "string"}},
        },
    }
    # A second operation, with no wrapper method: tapti.call and tapti.raw must serve it.
    document["paths"]["/users/{id}/accounts"] = {
        "get": {
            "operationId": "listAccounts",
            "tags": ["users"],
            "summary": "The social accounts a user connected",
            "security": [{"apiKey": []}],
            "parameters": [
                {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}},
                {"name": "platform", "in": "query", "schema": {"$ref": PLATFORM}},
                {"name": "X-Request-Source", "in": "header", "schema": {"type": "string"}},
            ],
            "responses": {
                "200": {
                    "description": "The user's connected accounts",
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Accounts"}}
                    },
                },
                "default": {"$ref": "#/components/responses/Error"},
            },
        }
    }
    schemas["Accounts"] = {
        "type": "object",
        "required": ["accounts"],
        "properties": {
            "accounts": {"type": "array", "items": {"$ref": "#/components/schemas/Platform"}}
        },
    }
    spec.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")


def _copy_env(root: Path) -> dict[str, str]:
    # Only the copy: its tapti_ext and the generated/ its generator wrote (PYTHONPATH comes
    # before site-packages, where the checkout's editable install or the wheel lives).
    path = os.pathsep.join([str(root), str(root / "generated")])
    return {**os.environ, "PYTHONPATH": path, "PYTHONDONTWRITEBYTECODE": "1"}


def _run(command: list[str], root: Path, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        command, cwd=root, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, f"{command[1:3]} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def _regenerated_copy(
    factory: pytest.TempPathFactory, name: str, change: Callable[[Path], None]
) -> Path:
    """A copy of the project whose spec ``change`` edits, regenerated by its own
    ``scripts/generate.py``."""
    root = factory.mktemp(name) / "project"
    root.mkdir()
    _copy_project(root)
    change(root / "openapi" / "tapti.yaml")
    _run([sys.executable, str(root / "scripts" / "generate.py")], root)
    return root


@pytest.fixture(scope="module")
def copy_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The copy, its spec changed as issue 13's table says."""
    return _regenerated_copy(tmp_path_factory, "spec-change", _change_spec)


@pytest.fixture(scope="module")
def seen(copy_root: Path) -> dict[str, Any]:
    """What the probe saw, run once against the copy."""
    given = {"create": COPY_CALL, "nested_url": NESTED_URL}
    command = [sys.executable, "-c", _PROBE, json.dumps(given), KEY]
    stdout = _run(command, copy_root, _copy_env(copy_root))
    result: dict[str, Any] = json.loads(stdout)
    return result


def _step(seen: dict[str, Any], name: str) -> dict[str, Any]:
    outcome: dict[str, Any] = seen[name]
    assert "error" not in outcome, outcome.get("error")
    return outcome


def test_the_probe_ran_the_copy_not_the_checkout(copy_root: Path, seen: dict[str, Any]) -> None:
    assert Path(seen["tapti_ext"]).is_relative_to(copy_root / "tapti_ext")
    assert Path(seen["tapti_api_client"]).is_relative_to(copy_root / "generated")
    # The change exists only in the copy: the checkout's generated enum has no THREADS.
    assert "THREADS" not in {member.value for member in Platform}


def test_the_generator_wrote_the_changes_and_the_mocks_spec(copy_root: Path) -> None:
    model = copy_root / "generated" / "tapti_api_client" / "models"
    assert 'THREADS = "THREADS"' in (model / "platform.py").read_text(encoding="utf-8")
    assert "expires_in" in (model / "create_sdk_token_request.py").read_text(encoding="utf-8")
    mock_spec = json.loads(
        (copy_root / "tapti_ext" / "testing" / "_openapi.json").read_text(encoding="utf-8")
    )
    assert "THREADS" in mock_spec["components"]["schemas"]["Platform"]["enum"]
    # The Literal names the hand-written layer types platforms= with.
    assert '"threads",' in (copy_root / "tapti_ext" / "_names.py").read_text(encoding="utf-8")


def test_the_new_platform_works_end_to_end(seen: dict[str, Any]) -> None:
    outcome = _step(seen, "threads")
    assert outcome["request"] == {
        "json": {
            "user_platforms": ["THREADS"],
            "enabled_scopes": ["PROFILE_READ"],
            "callback_url": CALL["callback_url"],
            "redirect_url": CALL["redirect_url"],
            "expires_in": 600,  # the spec's default, which the generated model sends
        },
        "status": 200,
    }
    assert outcome["platforms"] == ["THREADS"]
    assert outcome["token_issued"] is True
    assert outcome["portal_url"].endswith("&platform=threads")


def test_extra_body_carries_the_new_request_field_and_the_mock_accepts_it(
    seen: dict[str, Any],
) -> None:
    request = _step(seen, "expires_in")["request"]
    assert request["status"] == 200
    assert request["json"]["expires_in"] == 900


def test_the_mock_refuses_a_new_field_of_the_wrong_type(seen: dict[str, Any]) -> None:
    outcome = _step(seen, "bad_expires_in")
    assert outcome["type"] is not None, "a string expires_in was accepted"
    assert UnprocessableEntityError.__name__ in outcome["mro"]
    assert outcome["status_code"] == 422
    assert outcome["request"]["status"] == 422
    assert outcome["request"]["json"]["expires_in"] == "x"
    fields = [error["field"] for error in outcome["body"]["errors"]]
    assert fields == ["expires_in"]


def test_the_new_response_field_is_on_token_response(seen: dict[str, Any]) -> None:
    outcome = _step(seen, "expires_at")
    assert outcome["type"] == "datetime"
    parsed = datetime.fromisoformat(outcome["value"])
    assert parsed == datetime(2026, 11, 1, 12, 15, tzinfo=UTC)
    assert parsed.utcoffset() is not None
    assert outcome["token_in_repr"] is False


def test_the_cli_help_lists_the_new_platform(copy_root: Path) -> None:
    command = [sys.executable, "-m", "tapti_ext", "sdk-token", "create", "--help"]
    help_text = _run(command, copy_root, _copy_env(copy_root))
    # The --platform option's help, up to the next option, unwrapped: "...: facebook, ..., x".
    option = re.search(
        r"^  --platform PLATFORM(.*?)^  --scope", help_text, re.MULTILINE | re.DOTALL
    )
    assert option, help_text
    listed = {word.strip(",") for word in option[1].split(":", 1)[1].split()}
    assert {"threads", "youtube", "x"} <= listed


_COVERAGE = """
import json, sys
sys.path.insert(0, sys.argv[1])
import test_model_coverage as coverage
package, models = coverage.PACKAGE, coverage.spec_models(coverage.all_models())
used = coverage.used_fields(package, models)
missing, stale = coverage.unaccounted(models, used, coverage.KNOWINGLY_UNUSED)
print(json.dumps({"package": str(package), "missing": missing, "stale": stale}))
"""


def test_the_model_coverage_guard_names_the_new_fields(copy_root: Path) -> None:
    # tests/test_model_coverage.py run on the copy: the new fields, parsed by the regenerated
    # models, are flagged until tapti_ext uses them or they are listed as knowingly unused.
    command = [sys.executable, "-c", _COVERAGE, str(ROOT / "tests")]
    outcome = json.loads(_run(command, copy_root, _copy_env(copy_root)))
    assert Path(outcome["package"]).is_relative_to(copy_root)
    new = {
        "CreateSdkTokenRequest.expires_in",
        "CreateSdkTokenResponse.expires_at",
        "Accounts.accounts",  # the new operation's model: served by call(), named by no wrapper
        "CreateSdkTokenResponse.delivery",
        "Delivery.portal_url",
        "Delivery.links",
    }
    assert set(outcome["missing"]) == new  # judged per model field: no word elsewhere hides one
    assert outcome["stale"] == []


# --- the breaking change: an old-shape response ----------------------------------------------

OLD_SHAPE = {"sdk_token": "tok_old_shape_123"}


def _assert_validation_error(error: pytest.ExceptionInfo[Exception]) -> None:
    assert error.type is APIResponseValidationError
    assert not isinstance(error.value, KeyError)
    assert error.value.status_code == 200
    assert "missing field" in str(error.value)
    assert OLD_SHAPE["sdk_token"] not in str(error.value)


def test_an_old_shape_answer_over_http_is_a_validation_error() -> None:
    with MockTaptiServer(api_key=KEY) as server, Tapti(api_key=KEY, base_url=server.url) as tapti:
        server.fail_next(1, status=200, body=OLD_SHAPE)
        with pytest.raises(APIResponseValidationError) as error:
            tapti.user("u1").create_sdk_token(**CALL)
        assert server.requests[-1].status == 200
        assert len(server.requests) == 1  # a 2xx is never retried
    _assert_validation_error(error)


def test_an_old_shape_answer_through_raw_response_parse_is_a_validation_error() -> None:
    transport = httpx2.MockTransport(lambda _: httpx2.Response(200, json=OLD_SHAPE))
    with httpx2.Client(transport=transport) as http, Tapti(api_key=KEY, http_client=http) as tapti:
        raw = tapti.with_raw_response.user("u1").create_sdk_token(**CALL)
        with pytest.raises(APIResponseValidationError) as error:
            raw.parse()
    _assert_validation_error(error)


def test_an_old_shape_answer_to_a_generic_call_is_a_validation_error() -> None:
    transport = httpx2.MockTransport(lambda _: httpx2.Response(200, json=OLD_SHAPE))
    body = CreateSdkTokenRequest(
        user_platforms=[Platform.YOUTUBE],
        enabled_scopes=[Scope.PROFILE_READ],
        callback_url=CALL["callback_url"],
        redirect_url=CALL["redirect_url"],
    )
    with (
        httpx2.Client(transport=transport) as http,
        Tapti(api_key=KEY, http_client=http) as tapti,
        pytest.raises(APIResponseValidationError) as error,
    ):
        tapti.call(create_sdk_token_operation, "u1", body=body)
    _assert_validation_error(error)


@pytest.mark.anyio
async def test_an_old_shape_answer_is_a_validation_error_async() -> None:
    transport = httpx2.MockTransport(lambda _: httpx2.Response(200, json=OLD_SHAPE))
    async with (
        httpx2.AsyncClient(transport=transport) as http,
        AsyncTapti(api_key=KEY, http_client=http) as tapti,
    ):
        with pytest.raises(APIResponseValidationError) as error:
            await tapti.user("u1").create_sdk_token(**CALL)
    _assert_validation_error(error)


def test_a_new_operation_gets_the_whole_pipeline_without_wrapper_code(
    seen: dict[str, Any],
) -> None:
    outcome = _step(seen, "second_operation")
    assert outcome["parsed"] == "Accounts"  # tapti.call parsed it with the generated model
    assert (outcome["raw_status"], outcome["raw_parsed"]) == (200, "Accounts")
    assert outcome["unauthorised"] == 401  # raised as AuthenticationError, not returned
    assert outcome["bad_gateway"] == 502  # a non-JSON 502 is InternalServerError through raw
    assert outcome["paths"] == [f"/users/u{n}/accounts" for n in (1, 2, 3, 4)]


def test_an_enum_value_the_spec_does_not_list_is_kept(seen: dict[str, Any]) -> None:
    # MYSPACE: a platform the server added after the copy was generated.
    outcome = _step(seen, "unknown_enum_value")
    assert outcome["values"] == ["THREADS", "MYSPACE"]
    assert outcome["classes"] == ["Platform", "Platform"]
    assert outcome["known"] == [True, False]  # how a user tells them apart
    assert outcome["typed_by_user"] == "'MYSPACE' is not a valid Platform"
    assert outcome["wrong_type"] == "APIResponseValidationError"  # other shape errors stay


def test_a_token_in_a_nested_object_is_masked_in_every_repr(seen: dict[str, Any]) -> None:
    outcome = _step(seen, "nested_token")
    assert outcome["delivery"] == "Delivery"  # the regenerated nested model
    assert len(outcome["reprs"]) == 12
    for text in outcome["reprs"]:
        assert NESTED_TOKEN not in text, text
    assert sum("sdk_token=***" in text for text in outcome["reprs"]) == 12
    assert outcome["read"] == [NESTED_URL, NESTED_URL]  # read on purpose: the API's own value


_TYPED_CALL = """\
from tapti_api_client.api.users import list_accounts
from tapti_api_client.models import Platform

from tapti_ext import AsyncTapti, Tapti

def listed(tapti: Tapti) -> None:
    accounts = tapti.call(list_accounts, "u1", platform=Platform.THREADS, x_request_source="a")
    reveal_type(accounts)
    tapti.call(list_accounts, "u1", limt=5)

async def listed_async(tapti: AsyncTapti) -> None:
    accounts = await tapti.call(list_accounts, "u1", timeout=3)
    reveal_type(accounts.accounts)
    await tapti.call(list_accounts, "u1", platform="threads")
"""


def test_call_is_typed_by_the_new_operation(copy_root: Path, tmp_path: Path) -> None:
    # mypy --strict on user code against the copy: its tapti_ext and regenerated package first.
    (tmp_path / "user_code.py").write_text(_TYPED_CALL)
    env = {
        **os.environ,
        "MYPYPATH": os.pathsep.join([str(copy_root), str(copy_root / "generated")]),
    }
    command = [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "--config-file="]
    # Errors in the copy's generated package (checked non-strict by the project) are not ours.
    result = subprocess.run(
        [*command, "--follow-imports=silent", "user_code.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    lines = result.stdout.splitlines()
    revealed = [line.partition('Revealed type is "')[2] for line in lines if "Revealed" in line]
    models = "tapti_api_client.models"
    assert revealed == [
        f'{models}.accounts.Accounts"',
        f'list[{models}.platform.Platform]"',
    ]
    errors = [line for line in lines if ": error:" in line]
    assert len(errors) == 2, result.stdout
    assert errors[0].startswith('user_code.py:9: error: Unexpected keyword argument "limt"')
    assert errors[1].startswith('user_code.py:14: error: Argument "platform"')
    assert result.returncode == 1


# --- the command line on the regenerated copies -------------------------------------------------

# Runs `tapti` commands from the copy against the copy's mock; what each printed, and what the
# mock received.
_CLI_PROBE = """
import json, os, subprocess, sys
from tapti_ext.testing import MockTaptiServer

commands, key = json.loads(sys.argv[1]), sys.argv[2]
with MockTaptiServer(api_key=key) as server:
    env = {**os.environ, "TAPTI_API_KEY": key, "TAPTI_BASE_URL": server.url}
    runs = [
        subprocess.run([sys.executable, "-m", "tapti_ext", *command], env=env,
                       capture_output=True, text=True, timeout=120)
        for command in commands
    ]
    received = [{"path": r.path, "headers": dict(r.headers), "json": r.json}
                for r in server.requests]
print(json.dumps({
    "runs": [{"code": r.returncode, "stdout": r.stdout, "stderr": r.stderr} for r in runs],
    "received": received,
}))
"""


def _cli(root: Path, *commands: list[str]) -> dict[str, Any]:
    command = [sys.executable, "-c", _CLI_PROBE, json.dumps(commands), KEY]
    result: dict[str, Any] = json.loads(_run(command, root, _copy_env(root)))
    return result


def test_tapti_api_runs_the_new_operation_with_its_parameters(copy_root: Path) -> None:
    outcome = _cli(
        copy_root,
        ["api", "--help"],
        ["api", "list_accounts", "u1", "--platform", "threads", "--X-Request-Source", "cli"],
        ["api", "list-accounts", "u1", "--platform", "myspace"],
        # A look-alike (a Kelvin sign for the K): lower() made it "linkedin" (review 30).
        ["api", "list-accounts", "u1", "--platform", "LIN\u212aEDIN"],
    )
    listing, answered, refused, look_alike = outcome["runs"]
    assert re.search(
        r"^    list-accounts +The social accounts a user connected$",
        listing["stdout"],
        re.MULTILINE,
    ), listing["stdout"]
    assert answered["code"] == 0, answered["stderr"]
    assert isinstance(json.loads(answered["stdout"])["accounts"], list)  # the parsed Accounts
    [received] = outcome["received"]  # the refused value was never sent
    assert received["path"] == "/users/u1/accounts?platform=THREADS"
    assert received["headers"]["x-request-source"] == "cli"
    assert refused["code"] == 2
    assert "'myspace' is not one of" in refused["stderr"]
    assert "threads" in refused["stderr"]  # the copy's new enum value among the valid ones
    assert look_alike["code"] == 2, look_alike


@pytest.fixture(scope="module")
def required_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy whose spec makes new fields required: ``expires_in`` in the request and
    ``expires_at`` in the answer."""

    def require(spec: Path) -> None:
        document = yaml.safe_load(spec.read_text(encoding="utf-8"))
        request = document["components"]["schemas"]["CreateSdkTokenRequest"]
        request["properties"]["expires_in"] = {"type": "integer", "description": "Lifetime."}
        request["required"].append("expires_in")
        answer = document["components"]["schemas"]["CreateSdkTokenResponse"]
        answer["properties"]["expires_at"] = {
            "type": "string",
            "format": "date-time",
            "examples": [EXPIRES_AT],
        }
        answer["required"].append("expires_at")
        spec.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")

    return _regenerated_copy(tmp_path_factory, "required-field", require)


def test_a_new_required_request_field_is_one_cli_line_never_a_traceback(
    required_root: Path,
) -> None:
    body = {
        "user_platforms": ["YOUTUBE"],
        "enabled_scopes": ["PROFILE_READ"],
        "callback_url": CALL["callback_url"],
        "redirect_url": CALL["redirect_url"],
    }
    create = ["sdk-token", "create", "u1", "--platform", "youtube", "--scope", "profile_read"]
    create += ["--callback-url", CALL["callback_url"], "--redirect-url", CALL["redirect_url"]]
    outcome = _cli(
        required_root,
        create,
        ["api", "create-sdk-token", "u1", "--body", json.dumps(body)],
        ["api", "create-sdk-token", "u1", "--body", json.dumps({**body, "expires_in": 900})],
    )
    wrapper, incomplete, complete = outcome["runs"]
    for refused in (wrapper, incomplete):
        assert refused["code"] == 2
        assert refused["stdout"] == ""
        assert "Traceback" not in refused["stderr"]
        assert len(refused["stderr"].strip().splitlines()) == 1, refused["stderr"]
        assert "expires_in" in refused["stderr"]
    assert "tapti api create-sdk-token" in wrapper["stderr"]  # the way to send it today
    assert complete["code"] == 0, complete["stderr"]
    assert [r["json"]["expires_in"] for r in outcome["received"]] == [900]


# What the library does on the copy whose spec made fields required: each step's outcome.
_REQUIRED_PROBE = """
import asyncio, json, sys
from tapti_ext import AsyncTapti, InvalidInputError, SdkToken, Tapti
from tapti_ext.testing import MockTaptiServer

call, key = json.loads(sys.argv[1]), sys.argv[2]
seen = {}

def refused(exc):
    return {"type": type(exc).__name__, "message": str(exc),
            "invalid_input": isinstance(exc, InvalidInputError),
            "type_error": isinstance(exc, TypeError)}

async def async_missing(url):
    async with AsyncTapti(api_key=key, base_url=url) as tapti:
        try:
            await tapti.user("u1").create_sdk_token(**call)
        except Exception as exc:
            return refused(exc)

with MockTaptiServer(api_key=key) as server:
    with Tapti(api_key=key, base_url=server.url, max_retries=0) as tapti:
        try:
            tapti.user("u1").create_sdk_token(**call)
        except Exception as exc:
            seen["missing"] = refused(exc)
        seen["async_missing"] = asyncio.run(async_missing(server.url))
        seen["sent_while_missing"] = len(server.requests)
        token = tapti.user("u1").create_sdk_token(**call, extra_body={"expires_in": 900})
        seen["given"] = {
            "json": server.requests[-1].json,
            "status": server.requests[-1].status,
            "expires_at": token.response.expires_at.isoformat(),
            "token_in_repr": token.sdk_token in repr(token.response),
        }
hand = SdkToken("https://portal.example/?sdk_token=tok_by_hand", (), ())
try:
    hand.response.expires_at
    unset = None
except AttributeError as exc:
    unset = str(exc)
seen["by_hand"] = {"sdk_token": hand.sdk_token, "repr": repr(hand), "response": repr(hand.response),
                   "url": hand.response.oauth_portal_url, "unset": unset}
print(json.dumps(seen))
"""


def test_a_new_required_field_through_the_library(required_root: Path) -> None:
    command = [sys.executable, "-c", _REQUIRED_PROBE, json.dumps(CALL), KEY]
    seen = json.loads(_run(command, required_root, _copy_env(required_root)))
    for name in ("missing", "async_missing"):
        assert seen[name] == {
            "type": "RequiredFieldError",
            "message": "create_sdk_token: 'expires_in' is required by the API and not sent by "
            'this version of the SDK; pass it with extra_body={"expires_in": ...}',
            "invalid_input": True,
            "type_error": True,  # as the generated constructor's error was
        }
    assert seen["sent_while_missing"] == 0
    given = seen["given"]
    assert given["status"] == 200
    assert given["json"]["expires_in"] == 900
    assert given["json"]["user_platforms"] == ["YOUTUBE"]
    assert datetime.fromisoformat(given["expires_at"]) == datetime(2026, 11, 1, 12, 15, tzinfo=UTC)
    assert given["token_in_repr"] is False
    # SdkToken built by hand (a user's fake): the new required answer field stays unset.
    by_hand = seen["by_hand"]
    assert by_hand["sdk_token"] == "tok_by_hand"
    assert by_hand["url"] == "https://portal.example/?sdk_token=tok_by_hand"
    assert "tok_by_hand" not in by_hand["repr"] + by_hand["response"]
    assert by_hand["response"] == (
        "CreateSdkTokenResponse(oauth_portal_url='https://portal.example/?sdk_token=***')"
    )
    assert "expires_at" in by_hand["unset"]


# --- a spec grown as maintainers grow one (probe 11) -------------------------------------------


def _grow_spec(spec: Path) -> None:
    """Operations of shapes the committed spec does not have yet: a literal path beside a
    templated one (declared after it), form, multipart and binary bodies, typed path
    parameters (UUID, date, number), text beside a parameter in its segment, a nested resource
    also served at the top, header and cookie parameters, and an enum value written in mixed
    case."""
    document = yaml.safe_load(spec.read_text(encoding="utf-8"))
    schemas = document["components"]["schemas"]
    schemas["Platform"]["enum"].append("YouTubeShorts")
    schemas["Accounts"] = {
        "type": "object",
        "required": ["accounts"],
        "properties": {"accounts": {"type": "array", "items": {"$ref": PLATFORM}}},
    }
    schemas["Note"] = {
        "type": "object",
        "required": ["text"],
        "properties": {"text": {"type": "string"}},
    }
    accounts = {"application/json": {"schema": {"$ref": "#/components/schemas/Accounts"}}}

    def path_parameter(name: str, schema: dict[str, Any]) -> dict[str, Any]:
        return {"name": name, "in": "path", "required": True, "schema": schema}

    def operation(operation_id: str, *parameters: dict[str, Any], **more: Any) -> dict[str, Any]:
        status = more.pop("status", "200")
        answer = {"description": "done", "content": accounts} if status != "204" else None
        return {
            "operationId": operation_id,
            "tags": ["users"],
            "security": [{"apiKey": []}],
            "parameters": [path_parameter("id", {"type": "string"}), *parameters],
            "responses": {
                status: answer or {"description": "done"},
                "default": {"$ref": "#/components/responses/Error"},
            },
            **more,
        }

    paths = document["paths"]
    platform = path_parameter("platform", {"$ref": PLATFORM})
    paths["/users/{id}/accounts/{platform}"] = {"get": operation("getAccount", platform)}
    paths["/users/{id}/accounts/all"] = {"get": operation("startAccountsJob", status="202")}
    form = {"application/x-www-form-urlencoded": {"schema": {"$ref": "#/components/schemas/Note"}}}
    paths["/users/{id}/notes"] = {
        "post": operation("addNote", status="204", requestBody={"required": True, "content": form})
    }
    post_id = path_parameter("post_id", {"type": "string", "format": "uuid"})
    paths["/users/{id}/posts/{post_id}"] = {"get": operation("getPost", post_id)}
    day = path_parameter("day", {"type": "string", "format": "date"})
    paths["/users/{id}/stats/{day}"] = {"get": operation("getStats", day)}
    # Text beside a parameter in its segment: /users/u1/reports/.csv leaves the day empty.
    csv_day = path_parameter("day", {"type": "string"})
    paths["/users/{id}/reports/{day}.csv"] = {"get": operation("getReport", csv_day)}
    paths["/users/{id}/stats/{day}.csv"] = {"get": operation("getStatsCsv", csv_day)}
    host = {"name": "Host", "in": "header", "schema": {"type": "string"}}
    paths["/users/{id}/ping"] = {"get": operation("pingUser", host)}
    # A nested resource also served at the top: /posts/{post_id} matches /users//posts/...
    top_post = operation("getTopPost", post_id)
    top_post["parameters"] = [post_id]
    paths["/posts/{post_id}"] = {"get": top_post}
    score = path_parameter("score", {"type": "number"})
    paths["/users/{id}/score/{score}"] = {"get": operation("getScore", score)}
    locale = {"name": "locale", "in": "cookie", "schema": {"type": "string"}}
    paths["/users/{id}/prefs"] = {"get": operation("getPrefs", locale)}
    schemas["Avatar"] = {
        "type": "object",
        "properties": {
            "file": {"type": "string", "format": "binary"},
            "caption": {"type": "string"},
        },
    }
    multipart = {"multipart/form-data": {"schema": {"$ref": "#/components/schemas/Avatar"}}}
    binary = {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}
    for path, operation_id, content in (
        ("/users/{id}/avatar", "setAvatar", multipart),
        ("/users/{id}/blob", "putBlob", binary),
    ):
        body = {"required": True, "content": content}
        paths[path] = {"put": operation(operation_id, status="204", requestBody=body)}
    spec.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")


@pytest.fixture(scope="module")
def grown_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _regenerated_copy(tmp_path_factory, "grown-spec", _grow_spec)


_GROWN_PROBE = (
    """
import datetime, json, sys, traceback, uuid
from tapti_api_client.api.users import add_note, get_post, get_stats, start_accounts_job
from tapti_api_client.models import Note
from tapti_ext import AsyncTapti, Tapti
from tapti_ext.testing import MockTaptiServer

call, key = json.loads(sys.argv[1]), sys.argv[2]
seen = {}

"""
    + _STEP
    + """
def last(server):
    request = server.requests[-1]
    return {"path": request.path, "status": request.status,
            "type": request.headers.get("content-type"),
            "length": request.headers.get("content-length")}

with MockTaptiServer(api_key=key) as server, Tapti(
    api_key=key, base_url=server.url, max_retries=0
) as tapti:
    step("literal_path", lambda: {
        "call": [type(tapti.call(start_accounts_job, "u1")).__name__, last(server)],
        "raw": [int(start_accounts_job.sync_detailed("u1", client=tapti.raw).status_code),
                last(server)],
    })
    step("form_body", lambda: [tapti.call(add_note, "u1", body=Note(text="hello wörld")),
                               last(server)])
    step("typed_path", lambda: [
        tapti.call(get_post, "u1", uuid.UUID(int=7)) and last(server),
        tapti.call(get_stats, "u1", datetime.date(2026, 1, 31)) and last(server),
    ])
    def mixed_case():
        names = ("YouTubeShorts", "youtubeshorts", "YOUTUBESHORTS")
        tokens = [tapti.user("u1").create_sdk_token(**{**call, "platforms": name})
                  for name in names]
        return {"platforms": [[p.value for p in token.platforms] for token in tokens],
                "sent": server.requests[-1].json["user_platforms"],
                "portal": tokens[0].portal_url(platform="youtubeshorts")}
    step("mixed_case", mixed_case)
    def host_header():
        from tapti_api_client.api.users import ping_user
        sent, refusals = len(server.requests), []
        for send in (lambda: tapti.call(ping_user, "u1", host="evil.example"),
                     lambda: ping_user.sync_detailed("u1", client=tapti.raw, host="evil.example")):
            try:
                send()
            except Exception as exc:
                refusals.append([type(exc).__name__, str(exc)])
        return {"refusals": refusals, "sent": len(server.requests) - sent}
    step("host_header", host_header)

    def refused(send):
        sent = len(server.requests)
        try:
            send()
        except Exception as exc:
            return [type(exc).__name__, str(exc), len(server.requests) - sent]
        return ["sent", None, len(server.requests) - sent]

    def nested_empty():
        post = uuid.UUID(int=7)
        return [refused(lambda: get_post.sync_detailed("", post, client=tapti.raw)),
                refused(lambda: tapti.call(get_post, "", post))]
    step("nested_empty", nested_empty)

    def empty_in_a_segment():
        from tapti_api_client.api.users import get_report
        tapti.call(get_report, "u1", "2026-12-06")
        return [last(server)["path"],
                refused(lambda: get_report.sync_detailed("u1", "", client=tapti.raw)),
                refused(lambda: tapti.raw.get_httpx_client().get("/users/u1/reports/.csv")),
                refused(lambda: tapti.call(get_report, "u1", "")),
                # /users/{id}/stats/{day} takes it whole: that operation's, sent
                refused(lambda: tapti.raw.get_httpx_client().get("/users/u1/stats/.csv"))]
    step("empty_in_a_segment", empty_in_a_segment)

    def top_post_user():
        from tapti_api_client.api.users import get_top_post
        tapti.call(get_top_post, uuid.UUID(int=7))
        return {"user_id": server.requests[-1].user_id, "path": server.requests[-1].path}
    step("top_post_user", top_post_user)

    def score():
        from tapti_api_client.api.users import get_score
        tapti.call(get_score, "u1", 1.5)
        return [last(server)["path"], refused(lambda: tapti.call(get_score, "u1", float("nan")))]
    step("score", score)

    def cookie():
        from tapti_api_client.api.users import get_prefs
        tapti.call(get_prefs, "u1")
        return [last(server)["path"], refused(lambda: tapti.call(get_prefs, "u1", locale="de"))]
    step("cookie", cookie)

with MockTaptiServer(api_key=key, portal=True) as server, Tapti(
    api_key=key, base_url=server.url, max_retries=0
) as tapti:
    def portal_in_any_case():
        import httpx2
        token = tapti.user("u1").create_sdk_token(**{**call, "platforms": "youtubeshorts"})
        with httpx2.Client() as http:
            return {"status": http.get(token.portal_url(platform="youtubeshorts")).status_code}
    step("portal_in_any_case", portal_in_any_case)

# What a form, multipart or binary body puts on the wire, as a raw server reads it.
import asyncio, io, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
received = []

class Capture(BaseHTTPRequestHandler):
    def do_PUT(self):
        length = int(self.headers.get("Content-Length", 0))
        received.append({"type": self.headers.get("Content-Type"),
                         "body": self.rfile.read(length).decode("latin-1")})
        self.send_response(204)
        self.end_headers()
    def log_message(self, *args):
        pass

capture = ThreadingHTTPServer(("127.0.0.1", 0), Capture)
threading.Thread(target=capture.serve_forever, daemon=True).start()
base = f"http://127.0.0.1:{capture.server_address[1]}"

def bodies():
    from tapti_api_client.api.users import put_blob, set_avatar
    from tapti_api_client.models import Avatar
    from tapti_api_client.types import File
    sneaky = b"line\\r\\n--+++\\r\\nContent-Disposition: form-data; name=\\"caption\\"\\r\\n\\r\\nX"
    with Tapti(api_key=key, base_url=base, max_retries=0) as tapti:
        tapti.call(set_avatar, "u1", body=Avatar(
            file=File(payload=io.BytesIO(sneaky), file_name="a.txt"), caption="mine"))
        tapti.call(put_blob, "u1", body=File(payload=io.BytesIO(b"BLOBDATA")))

    async def stream():
        yield b"x"

    async def async_stream():
        async with AsyncTapti(api_key=key, base_url=base, max_retries=0) as tapti:
            try:
                await tapti.call(put_blob, "u1", body=File(payload=stream()))
            except Exception as exc:
                return [type(exc).__name__, str(exc)]
            return ["sent", None]

    class AsyncFile:  # an aiofiles-like file: its read() is awaited
        async def read(self, size=-1):
            return b""

    try:
        with Tapti(api_key=key, base_url=base, max_retries=0) as tapti:
            tapti.call(set_avatar, "u1", body=Avatar(file=File(payload=AsyncFile())))
        async_file = ["sent", None]
    except Exception as exc:
        async_file = [type(exc).__name__, str(exc)]

    return {"received": received[:], "async_stream": asyncio.run(async_stream()),
            "async_file": async_file}

step("bodies", bodies)
capture.shutdown()
print(json.dumps(seen))
"""
)


@pytest.fixture(scope="module")
def grown(grown_root: Path) -> dict[str, Any]:
    command = [sys.executable, "-c", _GROWN_PROBE, json.dumps(CALL), KEY]
    result: dict[str, Any] = json.loads(_run(command, grown_root, _copy_env(grown_root)))
    return result


def test_a_literal_path_beside_a_templated_one_is_its_own_operation(
    grown: dict[str, Any],
) -> None:
    # /users/{id}/accounts/all, not /users/{id}/accounts/{platform} with platform "all": the
    # mock serves its 202, and the SDK takes that 202 as the operation's documented answer.
    outcome = _step(grown, "literal_path")
    job = {"path": "/users/u1/accounts/all", "status": 202, "type": None, "length": None}
    assert outcome["call"] == ["Accounts", job]
    assert outcome["raw"] == [202, job]


def test_a_form_body_is_sent_by_call(grown: dict[str, Any]) -> None:
    parsed, request = _step(grown, "form_body")
    assert parsed is None  # the 204
    assert request["type"] == "application/x-www-form-urlencoded"
    assert request["length"] == str(len("text=hello+w%C3%B6rld"))


def test_typed_path_parameters_are_taken_as_the_generated_code_types_them(
    grown: dict[str, Any],
) -> None:
    post, stats = _step(grown, "typed_path")
    assert post["path"] == f"/users/u1/posts/{uuid.UUID(int=7)}"
    assert stats["path"] == "/users/u1/stats/2026-01-31"


def test_an_enum_value_in_mixed_case_is_taken_in_any_case(grown: dict[str, Any]) -> None:
    outcome = _step(grown, "mixed_case")
    assert outcome["platforms"] == [["YouTubeShorts"]] * 3
    assert outcome["sent"] == ["YouTubeShorts"]
    assert outcome["portal"].endswith("&platform=youtubeshorts")


def test_tapti_api_help_for_operations_the_spec_gives_no_summary(grown_root: Path) -> None:
    listing, account = _cli(grown_root, ["api", "--help"], ["api", "get-account", "--help"])["runs"]
    assert "Args:" not in listing["stdout"]  # the generated docstring's first line, before
    assert re.search(
        r"^    get-post +GET /users/\{id\}/posts/\{post_id\}$", listing["stdout"], re.M
    )
    # An enum path parameter lists its values, as an enum option does.
    assert re.search(r"PLATFORM +a path parameter; one of: facebook,", account["stdout"]), account


def test_a_header_parameter_the_sdk_sets_is_refused_unsent(grown: dict[str, Any]) -> None:
    # A spec's header parameter named Host: the SDK's own Host would go beside it, and which
    # one a server or a proxy reads is theirs to choose (probe 11, L4).
    outcome = _step(grown, "host_header")
    assert outcome["sent"] == 0
    (call_type, call_message), (raw_type, _) = outcome["refusals"]
    assert (call_type, raw_type) == ("InvalidInputError", "InvalidInputError")
    assert call_message == "this operation sets Host, which the SDK sets"


def test_a_nested_path_left_empty_is_refused_through_raw(grown: dict[str, Any]) -> None:
    # /users//posts/7: /posts/{post_id} matches its end all the same (review 13, M2).
    raw, call = _step(grown, "nested_empty")
    assert raw == ["InvalidInputError", "a path parameter must not be empty; nothing was sent", 0]
    assert call[0] == "InvalidInputError"
    assert call[2] == 0


def test_a_parameter_left_empty_inside_a_segment_is_refused(grown: dict[str, Any]) -> None:
    # /users/u1/reports/.csv for /users/{id}/reports/{day}.csv (review 14, N2).
    sent, generated, by_hand, call, filled = _step(grown, "empty_in_a_segment")
    assert sent == "/users/u1/reports/2026-12-06.csv"
    assert filled[2] == 1  # /users/{id}/stats/{day} with ".csv": sent (review 15, R15-4)
    empty = ["InvalidInputError", "a path parameter must not be empty; nothing was sent", 0]
    assert generated == empty
    assert by_hand == empty
    assert call[0] == "InvalidInputError"
    assert call[2] == 0


def test_a_float_path_value_is_sent_and_nan_refused(grown: dict[str, Any]) -> None:
    path, nan = _step(grown, "score")
    assert path == "/users/u1/score/1.5"
    assert nan == ["InvalidInputError", "get_score score must be a finite number", 0]


def test_an_optional_cookie_parameter_left_out_is_no_obstacle(grown: dict[str, Any]) -> None:
    path, given = _step(grown, "cookie")
    assert path == "/users/u1/prefs"  # nothing to send: the call went out
    assert given[0] == "InvalidInputError"  # a cookie tapti.call cannot send
    assert given[2] == 0
    assert "cookies" in given[1]


def test_the_stand_in_portal_takes_a_mixed_case_platform_in_any_case(
    grown: dict[str, Any],
) -> None:
    assert _step(grown, "portal_in_any_case") == {"status": 200}


def test_multipart_and_binary_bodies_go_out_whole(grown: dict[str, Any]) -> None:
    outcome = _step(grown, "bodies")
    avatar, blob = outcome["received"]
    kind, _, boundary = avatar["type"].partition("; boundary=")
    assert kind == "multipart/form-data"
    assert boundary not in {"", "+++"}  # httpx2's own: a file's bytes cannot end a part early
    assert avatar["body"].count(f"--{boundary}") == 3  # two parts and the closing line
    assert (
        f'name="caption"\r\nContent-Type: text/plain\r\n\r\nmine\r\n--{boundary}' in avatar["body"]
    )
    assert "--+++\r\nContent-Disposition" in avatar["body"]  # the file's bytes, kept as bytes
    assert blob == {"type": "application/octet-stream", "body": "BLOBDATA"}
    assert outcome["async_stream"][0] == "InvalidInputError"
    assert outcome["async_file"][0] == "InvalidInputError"  # httpx2 would loop reading it


def test_the_mock_names_no_user_for_a_path_outside_users(grown: dict[str, Any]) -> None:
    outcome = _step(grown, "top_post_user")
    assert outcome == {"user_id": None, "path": f"/posts/{uuid.UUID(int=7)}"}
