"""Where the API key goes comes from the spec's security schemes, for the SDK and for the mock.

``make generate`` writes the apiKey scheme's header into ``tapti_ext/_names.py`` (the SDK sends the
key there); the mock reads the header names from the spec it serves, accepts any one of an
operation's security alternatives, and never records a header the spec marks as a key in clear.
The last test renames the header in a copy of the project, regenerates it, and calls the copy's
mock with the copy's client: no hand edit anywhere.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx2
import pytest
import yaml

import tapti_ext
from tapti_ext import _call, _names
from tapti_ext.testing import MockTaptiServer
from tapti_ext.testing._spec import Spec

ROOT = Path(__file__).resolve().parent.parent
KEY = "sk_auth_test_5e6f"
PATH = "/users/u1/sdk-token"
BODY: dict[str, Any] = {
    "user_platforms": ["YOUTUBE"],
    "enabled_scopes": ["PROFILE_READ"],
    "callback_url": "https://app.example/cb",
    "redirect_url": "https://app.example/done",
}


def _load_script(name: str) -> ModuleType:
    # As the scripts run (python scripts/x.py): their siblings importable.
    if str(ROOT / "scripts") not in sys.path:
        sys.path.append(str(ROOT / "scripts"))
    spec = importlib.util.spec_from_file_location(f"_auth_{name}", ROOT / "scripts" / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


enum_literals = _load_script("enum_literals")


def _document() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((ROOT / "openapi" / "tapti.yaml").read_text())
    return document


def _operation(document: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = document["paths"]["/users/{id}/sdk-token"]["post"]
    return result


def _renamed(header: str) -> dict[str, Any]:
    document = copy.deepcopy(_document())
    document["components"]["securitySchemes"]["apiKey"]["name"] = header
    return document


def _two_alternatives() -> dict[str, Any]:
    """The key in ``x-api-key``, or as a Bearer token; or with both of two headers (AND)."""
    document = copy.deepcopy(_document())
    schemes = document["components"]["securitySchemes"]
    schemes["bearer"] = {"type": "http", "scheme": "bearer"}
    schemes["tenant"] = {"type": "apiKey", "in": "header", "name": "X-Tenant-Key"}
    schemes["oauth"] = {"type": "oauth2", "flows": {}}
    _operation(document)["security"] = [
        {"oauth": []},  # an alternative the mock cannot check: never met
        {"apiKey": []},
        {"bearer": []},
        {"tenant": [], "apiKey": []},
    ]
    return document


# --- make generate writes the header -----------------------------------------------------------


def test_the_sdk_sends_the_key_in_the_header_the_spec_names() -> None:
    (scheme,) = _document()["components"]["securitySchemes"].values()
    assert scheme["name"] == _names.API_KEY_HEADER
    assert _call.API_KEY_HEADER is _names.API_KEY_HEADER  # imported from _names: no copy
    assert f'API_KEY_HEADER: Final = "{scheme["name"]}"' in enum_literals.literal_module(
        _document()
    )


def test_a_renamed_header_is_what_generation_writes() -> None:
    text = enum_literals.literal_module(_renamed("X-Tapti-Key"))
    assert 'API_KEY_HEADER: Final = "x-tapti-key"' in text
    assert '"API_KEY_HEADER"' in text.split("__all__", 1)[1].splitlines()[0]


def test_an_operation_with_a_bearer_alternative_still_names_its_one_key_header() -> None:
    document = _two_alternatives()
    del document["components"]["securitySchemes"]["tenant"]
    _operation(document)["security"].pop()
    assert enum_literals.api_key_header(document) == "x-api-key"


@pytest.mark.parametrize("change", ["none", "two"])
def test_generation_refuses_a_spec_without_exactly_one_key_header(change: str) -> None:
    document = _two_alternatives() if change == "two" else copy.deepcopy(_document())
    if change == "none":
        _operation(document)["security"] = [{}]
    with pytest.raises(enum_literals.SpecError, match="exactly one apiKey") as error:
        enum_literals.api_key_header(document)
    if change == "two":
        assert "x-api-key, x-tenant-key" in str(error.value)


# --- the mock follows the spec's schemes -------------------------------------------------------


@pytest.fixture
def mock() -> Iterator[MockTaptiServer]:
    with MockTaptiServer(api_key=KEY) as server:
        yield server


def _post(server: MockTaptiServer, headers: dict[str, str]) -> int:
    with httpx2.Client(trust_env=False) as http:
        return http.post(f"{server.url}{PATH}", json=BODY, headers=headers).status_code


def test_the_mock_checks_and_masks_a_renamed_header(mock: MockTaptiServer) -> None:
    mock._spec = Spec(_renamed("x-tapti-key"))
    assert _post(mock, {"x-tapti-key": KEY}) == 200
    assert _post(mock, {"x-api-key": KEY}) == 401  # the old name is no longer the key's
    assert _post(mock, {"x-tapti-key": "wrong", "x-trace": "t1"}) == 401
    renamed, old_name, wrong = mock.requests
    assert renamed.headers["x-tapti-key"] == "***"
    assert old_name.headers["x-api-key"] == "***"  # the key itself is never kept in clear
    assert wrong.headers["x-tapti-key"] == "***"  # a wrong key may be a near miss: masked too
    assert wrong.headers["x-trace"] == "t1"
    assert KEY not in repr(mock.requests)


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"x-api-key": KEY}, 200),
        ({"Authorization": f"Bearer {KEY}"}, 200),
        ({"x-api-key": KEY, "x-tenant-key": KEY}, 200),
        ({"x-api-key": "wrong", "Authorization": f"Bearer {KEY}"}, 200),
        ({"x-tenant-key": KEY}, 401),  # half of the AND alternative
        ({"x-api-key": "wrong", "Authorization": "Bearer wrong"}, 401),
        ({}, 401),  # the oauth alternative is not met by nothing
    ],
)
def test_any_one_security_alternative_is_accepted(
    mock: MockTaptiServer, headers: dict[str, str], status: int
) -> None:
    mock._spec = Spec(_two_alternatives())
    assert _post(mock, headers) == status
    (recorded,) = mock.requests
    for name in headers:  # every header that can carry the key, right or wrong, is masked
        assert recorded.headers[name.lower()] == "***"


def test_the_secret_headers_are_the_specs_api_key_headers() -> None:
    assert Spec(_document()).secret_headers == {"x-api-key"}
    assert Spec(_two_alternatives()).secret_headers == {"x-api-key", "x-tenant-key"}
    assert Spec(_renamed("X-Tapti-Key")).secret_headers == {"x-tapti-key"}


# --- a renamed header, regenerated: the SDK and the mock follow together -----------------------

_PROBE = """
import json, sys
from tapti_ext import Tapti, _names
from tapti_ext.testing import MockTaptiServer
key = sys.argv[1]
with MockTaptiServer(api_key=key) as server, Tapti(api_key=key, base_url=server.url) as tapti:
    token = tapti.user("u1").create_sdk_token(
        platforms=["youtube"], scopes=["profile_read"],
        callback_url="https://app.example/cb", redirect_url="https://app.example/done")
    (sent,) = server.requests
print(json.dumps({"header": _names.API_KEY_HEADER, "tapti_ext": __import__("tapti_ext").__file__,
                  "issued": token.sdk_token in server.issued_tokens, "sent": dict(sent.headers)}))
"""


def test_a_regenerated_copy_sends_and_checks_the_renamed_header(tmp_path: Path) -> None:
    root = tmp_path / "project"
    shutil.copytree(ROOT / "openapi", root / "openapi")
    shutil.copytree(ROOT / "scripts", root / "scripts", ignore=shutil.ignore_patterns("bench"))
    package = Path(tapti_ext.__file__).resolve().parent
    shutil.copytree(package, root / "tapti_ext", ignore=shutil.ignore_patterns("__pycache__"))
    spec = root / "openapi" / "tapti.yaml"
    spec.write_text(spec.read_text().replace("name: x-api-key", "name: x-tapti-key"))
    subprocess.run([sys.executable, str(root / "scripts" / "generate.py")], check=True, cwd=root)

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), str(root / "generated")])}
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, KEY],
        cwd=root,  # `python -c` puts the working directory first on sys.path
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert Path(seen["tapti_ext"]).is_relative_to(root)
    assert seen["header"] == "x-tapti-key"
    assert seen["issued"] is True  # the copy's mock accepted the key under the new name
    assert seen["sent"]["x-tapti-key"] == "***"
    assert "x-api-key" not in seen["sent"]


def test_a_2xx_range_documents_every_success_status() -> None:
    """``_names.OPERATIONS`` listed none for ``2XX``, which the generated parser reads as any
    2xx: the regenerated SDK refused every answer as undocumented (probe 31)."""
    document = _document()
    responses = document["paths"]["/users/{id}/sdk-token"]["post"]["responses"]
    responses["2XX"] = responses.pop("200")
    [(_, _, statuses)] = enum_literals.documented_operations(document)
    assert statuses == list(range(200, 300))
    assert '"/users/{id}/sdk-token", tuple(range(200, 300))),' in enum_literals.literal_module(
        document
    )


@pytest.mark.parametrize(
    "respell",
    [
        lambda schemas: schemas["Platform"].update(type=["string"]),  # OpenAPI 3.1
        lambda schemas: schemas["Platform"].pop("type"),
        lambda schemas: schemas.update(
            SocialPlatform={**schemas.pop("Platform"), "title": "Platform"}
        ),
    ],
    ids=["type-list", "no-type", "renamed-key-same-title"],
)
def test_the_enum_literals_follow_the_class_the_generator_makes(
    respell: Callable[[dict[str, Any]], object],
) -> None:
    """Each spelling leaves the generated class Platform: PlatformName, which tapti_ext imports
    beside it, was not written, and `import tapti_ext` failed after make generate."""
    document = _document()
    respell(document["components"]["schemas"])
    text = enum_literals.literal_module(document)
    assert "\nPlatformName: TypeAlias = Literal[\n" in text
    assert '    "youtube",\n' in text
