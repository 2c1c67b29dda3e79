"""What the SDK makes of the generated models: answers it parses and requests it builds.

- An enum value the spec does not list yet (the API added a platform before this package was
  regenerated) is kept while an answer is parsed, and stays a ``ValueError`` anywhere else.
- Every repr of a parsed answer masks SDK tokens, however deep they sit.
- A request field the spec made required that the wrapper does not know is taken from
  ``extra_body``, or named in an ``InvalidInputError``; ``SdkToken`` built by hand survives a
  new required response field.

The same, on a regenerated copy of the project with a changed spec, is in test_spec_changes.py.
"""

from __future__ import annotations

import copy
import json
import pickle
import threading
from typing import Any

import attrs
import httpx2
import pytest
from tapti_api_client.api.users import create_sdk_token
from tapti_api_client.models import (
    CreateSdkTokenRequest,
    CreateSdkTokenResponse,
    Platform,
    Scope,
)

from tapti_ext import (
    APIResponseValidationError,
    AsyncTapti,
    InvalidInputError,
    SdkToken,
    Tapti,
)
from tapti_ext._call import model_from
from tapti_ext._client import request_model
from tapti_ext._errors import RequiredFieldError
from tapti_ext._masking import masked
from tapti_ext._portal import token_from_response
from tapti_ext.testing import MockTaptiServer

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


# --- SDK tokens masked in every repr, at any depth --------------------------------------------

NESTED = {
    "oauth_portal_url": URL,
    "delivery": {
        "portal_url": URL,
        "links": [URL, {"href": URL}],
        "session_token": "plain-value-that-is-a-token",
        "note": f"open sdk_token={TOKEN} fast",
    },
    "sdk_token": TOKEN,
    "count": 3,
}


def _reprs(value: object) -> list[str]:
    return [repr(value), str(value), f"{value!r}", f"{value}"]


def _assert_masked(*values: object) -> None:
    for value in values:
        for text in _reprs(value):
            for secret in (TOKEN, "tok_Secret", "plain-value-that-is-a-token"):
                assert secret not in text, text
            assert "sdk_token=***" in text or "***" in text, text


def test_tokens_nested_in_an_answer_are_masked_in_every_repr() -> None:
    token = token_from_response(_answer(NESTED), (Platform.YOUTUBE,), (Scope.PROFILE_READ,))
    response = token.response
    delivery = response["delivery"]
    _assert_masked(
        token, response, response.additional_properties, delivery, delivery["links"],
        delivery["links"][1],
    )  # fmt: skip
    assert "'count': 3" in repr(response)  # what is no token is shown
    assert "app.example" in repr(response)
    # Values read on purpose are the API's own.
    assert delivery["portal_url"] == URL
    assert delivery["links"][1]["href"] == URL
    assert response.to_dict() == NESTED
    assert json.loads(json.dumps(response.to_dict())) == NESTED
    assert token.sdk_token == TOKEN


def test_a_masked_answer_is_still_the_generated_model() -> None:
    token = token_from_response(_answer(NESTED), (), ())
    plain = CreateSdkTokenResponse.from_dict(NESTED)
    assert isinstance(token.response, CreateSdkTokenResponse)
    assert type(token.response).__name__ == "CreateSdkTokenResponse"
    assert token.response == plain
    assert plain == token.response
    assert token.response != CreateSdkTokenResponse.from_dict({**NESTED, "count": 4})
    for again in (
        copy.copy(token.response),
        copy.deepcopy(token.response),
        pickle.loads(pickle.dumps(token.response)),
    ):
        assert again == plain
        _assert_masked(again, again["delivery"])


@attrs.define
class _Inner:
    portal_url: str
    api_token: str


@attrs.define
class _Outer:
    inner: _Inner
    inners: list[_Inner]
    tokens: list[str]


def test_nested_models_are_masked_wherever_they_are_read_from() -> None:
    # Generated models nest models (a spec field of an object type): each gets the masking repr.
    inner = _Inner(portal_url=URL, api_token=TOKEN)
    outer = masked(_Outer(inner=inner, inners=[_Inner(URL, TOKEN)], tokens=[TOKEN]))
    _assert_masked(outer, outer.inner, outer.inners, outer.inners[0], outer.tokens)
    assert isinstance(outer.inner, _Inner)
    assert outer.inner.api_token == TOKEN
    portal = "https://oauth.tapti.dev/?origin=https%3A%2F%2Fapp.example&sdk_token=***"
    assert repr(outer.inner) == f"_Inner(portal_url={portal!r}, api_token='***')"


def test_call_results_are_masked_too() -> None:
    with (
        MockTaptiServer(api_key=KEY) as server,
        Tapti(api_key=KEY, base_url=server.url) as tapti,
    ):
        server.fail_next(1, status=200, body=NESTED)
        parsed = tapti.call(create_sdk_token, "u1", body=BODY)
        issued = tapti.call(create_sdk_token, "u2", body=BODY)
    _assert_masked(parsed, parsed["delivery"])
    assert parsed.oauth_portal_url == URL
    [sdk_token] = server.issued_tokens
    assert sdk_token in issued.oauth_portal_url
    assert sdk_token not in repr(issued)


@pytest.mark.anyio
async def test_async_answers_are_masked() -> None:
    with MockTaptiServer(api_key=KEY) as server:
        async with AsyncTapti(api_key=KEY, base_url=server.url) as tapti:
            server.fail_next(2, status=200, body=NESTED)
            token = await tapti.user("u1").create_sdk_token(**CALL)
            parsed = await tapti.call(create_sdk_token, "u1", body=BODY)
    _assert_masked(token, token.response, token.response["delivery"], parsed)


# --- required fields ---------------------------------------------------------------------------

KNOWN = {"user_platforms": ["YOUTUBE"], "enabled_scopes": ["PROFILE_READ"]}


def test_a_required_field_the_wrapper_does_not_send_comes_from_extra_body() -> None:
    # As if the spec had made callback_url and redirect_url required after this code was written.
    extra = {"callback_url": "https://app.example/cb", "redirect_url": "https://app.example/d"}
    built = request_model(CreateSdkTokenRequest, KNOWN, {**extra, "other": 1}, "create_sdk_token")
    assert built.callback_url == extra["callback_url"]
    assert built.user_platforms == [Platform.YOUTUBE]
    assert "other" not in built.to_dict()  # the rest of extra_body is merged when sending


def test_a_missing_required_field_is_named_with_how_to_pass_it() -> None:
    with pytest.raises(InvalidInputError) as error:
        request_model(CreateSdkTokenRequest, KNOWN, {"redirect_url": "x"}, "create_sdk_token")
    assert str(error.value) == (
        "create_sdk_token: 'callback_url' is required by the API and not sent by this version "
        'of the SDK; pass it with extra_body={"callback_url": ...}'
    )
    assert isinstance(error.value, RequiredFieldError)
    assert isinstance(error.value, TypeError)  # what the generated constructor raised
    assert error.value.names == ("callback_url",)
    with pytest.raises(InvalidInputError, match=r"'callback_url', 'redirect_url' are required"):
        request_model(CreateSdkTokenRequest, KNOWN, None, "create_sdk_token")


def test_an_extra_body_that_does_not_fit_is_bad_input() -> None:
    extra = {"callback_url": "x", "redirect_url": "y"}
    # A value in the known fields the generated parser cannot read.
    with pytest.raises(InvalidInputError, match="extra_body does not fit"):
        request_model(
            CreateSdkTokenRequest, {**KNOWN, "enabled_scopes": 5}, extra, "create_sdk_token"
        )
    # An enum value the spec does not list yet is the API's to judge, as in answers.
    built = request_model(
        CreateSdkTokenRequest, {**KNOWN, "user_platforms": ["THREADS"]}, extra, "create_sdk_token"
    )
    assert built.to_dict()["user_platforms"] == ["THREADS"]


def test_a_token_built_by_hand_survives_a_new_required_response_field() -> None:
    @attrs.define
    class NewerResponse:  # the generated model once the spec requires expires_at
        oauth_portal_url: str
        expires_at: str
        additional_properties: dict[str, Any] = attrs.field(init=False, factory=dict)

    from tapti_ext._portal import _model  # noqa: PLC0415

    partial = _model(NewerResponse, oauth_portal_url=URL)
    assert partial.oauth_portal_url == URL
    assert partial.additional_properties == {}
    with pytest.raises(AttributeError, match="expires_at"):
        _ = partial.expires_at
    token = SdkToken(URL, "youtube", "profile_read", response=partial)  # type: ignore[arg-type]
    assert token.sdk_token == TOKEN
    _assert_masked(token, token.response)
    assert repr(token.response).startswith("NewerResponse(oauth_portal_url='https://")
