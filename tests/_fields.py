"""Field names of the API's bodies, taken from the generated models rather than typed into tests.

When the spec renames or reshapes a field, ``make generate`` changes the generated model and the
tests follow it through this module: a body built here is whatever the model serialises, and a
field name is the model's own. Only this file decides *which* field is the portal URL.

    PORTAL_FIELD          the name of the response field holding the OAuth Portal URL
    portal_body(url)      a success body of ``POST /users/{id}/sdk-token`` carrying ``url``
"""

from __future__ import annotations

from typing import Any

import attrs
from tapti_api_client.models.create_sdk_token_response import CreateSdkTokenResponse

__all__ = ["PORTAL_FIELD", "portal_body", "portal_of"]


def _portal_field() -> str:
    # The mock assumes the same convention (a string field named "*portal_url"): see _fill_tokens.
    names = [f.name for f in attrs.fields(CreateSdkTokenResponse) if f.name.endswith("portal_url")]
    if len(names) != 1:
        raise LookupError(
            "CreateSdkTokenResponse should have exactly one *portal_url field, has "
            f"{names!r}: the response shape changed, update tests/_fields.py once"
        )
    return names[0]


PORTAL_FIELD: str = _portal_field()


def portal_body(url: object) -> dict[str, Any]:
    """The JSON success body the generated model writes for ``url``.

    ``url`` may be any value (``None``, a number, a relative URL): the tests of malformed bodies
    build them here too, so they follow the field's name. The model's ``to_dict`` checks nothing.
    """
    return CreateSdkTokenResponse(**{PORTAL_FIELD: url}).to_dict()


def portal_of(model: Any) -> Any:
    """The portal URL a generated response model holds (``response.parsed``, ``token.response``)."""
    return getattr(model, PORTAL_FIELD)
