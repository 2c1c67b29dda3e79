"""What the SDK makes of the generated models: answers it parses and requests it builds.

- An enum value the spec does not list yet (the API added a platform before this package was
  regenerated) is kept while an answer is parsed, and stays a ``ValueError`` anywhere else.

The same, on a regenerated copy of the project with a changed spec, is in test_spec_changes.py.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import httpx2
import pytest
from tapti_api_client.models import (
    CreateSdkTokenRequest,
    Platform,
    Scope,
)

from tapti_ext import (
    APIResponseValidationError,
)
from tapti_ext._call import model_from

KEY = "models-key"
TOKEN = "tok_Secret+/=value_123"  # made up
URL = "https://oauth.tapti.dev/?origin=https%3A%2F%2Fapp.example&sdk_token=tok_Secret%2B%2F%3Dvalue_123"
REQUEST = {
    "user_platforms": ["YOUTUBE", "THREADS"],
    "enabled_scopes": ["PROFILE_READ", "STORIES_WRITE"],
    "callback_url": "https://app.example/cb",
    "redirect_url": "https://app.example/done",
}
CALL: dict[str, Any] = {
    "platforms": ["youtube"],
    "scopes": ["profile_read"],
    "callback_url": "https://app.example/cb",
    "redirect_url": "https://app.example/done",
}
BODY = CreateSdkTokenRequest(
    user_platforms=[Platform.YOUTUBE],
    enabled_scopes=[Scope.PROFILE_READ],
    callback_url="https://app.example/cb",
    redirect_url="https://app.example/done",
)


def _answer(body: object) -> httpx2.Response:
    return httpx2.Response(200, json=body, request=httpx2.Request("POST", "https://api.example/"))


def _parse_request(body: object) -> CreateSdkTokenRequest:
    # A model with enum lists: the same generated code parses enums in any answer.
    return model_from(lambda: CreateSdkTokenRequest.from_dict(body), _answer(body), "request")  # type: ignore[arg-type]


# --- enum values the spec does not list yet ---------------------------------------------------


def test_an_unknown_enum_value_in_an_answer_is_kept_as_its_string() -> None:
    parsed = _parse_request(REQUEST)
    youtube, threads = parsed.user_platforms
    assert youtube is Platform.YOUTUBE
    assert isinstance(threads, Platform)
    assert threads == "THREADS"
    assert threads.value == "THREADS"
    assert str(threads) == "THREADS"
    assert parsed.enabled_scopes[1] == "STORIES_WRITE"
    # How a user tells them apart (the README says so):
    assert youtube in Platform.__members__.values()
    assert threads not in Platform.__members__.values()
    assert len(Platform) == len(Platform.__members__)  # the class itself is unchanged
    assert "THREADS" not in Platform.__members__
    # Sent back or serialised, it is the value the API sent.
    assert parsed.to_dict() == REQUEST
    assert json.loads(json.dumps(parsed.to_dict())) == REQUEST


def test_outside_parsing_an_unknown_value_stays_an_error() -> None:
    for value in ("THREADS", "youtub", "YOUTUB"):
        with pytest.raises(ValueError, match="is not a valid Platform"):
            Platform(value)
    with pytest.raises(KeyError):
        Platform["THREADS"]
    with pytest.raises(ValueError, match="is not a valid Platform"):
        CreateSdkTokenRequest.from_dict(REQUEST)  # the generated code used directly
    _parse_request(REQUEST)
    with pytest.raises(ValueError, match="is not a valid Platform"):
        Platform("THREADS")  # not left switched on by a parse
    with pytest.raises(APIResponseValidationError):
        _parse_request({**REQUEST, "user_platforms": 5})
    with pytest.raises(ValueError, match="is not a valid Platform"):
        Platform("THREADS")  # nor by a failed one


def test_a_user_value_is_checked_even_while_another_thread_parses() -> None:
    seen: list[object] = []
    parsing, checked = threading.Event(), threading.Event()

    def user_code() -> None:
        parsing.wait(10)
        try:
            seen.append(Platform("THREADS"))
        except ValueError as exc:
            seen.append(exc)
        checked.set()

    def slow_parse() -> CreateSdkTokenRequest:
        parsing.set()
        assert checked.wait(10)  # the other thread ran while this one was parsing
        return CreateSdkTokenRequest.from_dict(REQUEST)

    thread = threading.Thread(target=user_code)
    thread.start()
    parsed = model_from(slow_parse, _answer(REQUEST), "request")
    thread.join(10)
    assert parsed.user_platforms[1] == "THREADS"
    assert len(seen) == 1
    assert isinstance(seen[0], ValueError)


@pytest.mark.parametrize(
    "platforms",
    [[5], [None], [["YOUTUBE"]], [{"name": "YOUTUBE"}], 5],
    ids=["int", "null", "list", "object", "not-a-list"],
)
def test_other_shape_errors_stay_validation_errors(platforms: object) -> None:
    with pytest.raises(APIResponseValidationError, match="not a valid request"):
        _parse_request({**REQUEST, "user_platforms": platforms})
