from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="CreateSdkTokenResponse")


@_attrs_define
class CreateSdkTokenResponse:
    """SDK token created successfully

    Attributes:
        oauth_portal_url (str): The OAuth portal URL to redirect the user to
    """

    oauth_portal_url: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        oauth_portal_url = self.oauth_portal_url

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "oauth_portal_url": oauth_portal_url,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        oauth_portal_url = d.pop("oauth_portal_url")

        create_sdk_token_response = cls(
            oauth_portal_url=oauth_portal_url,
        )

        create_sdk_token_response.additional_properties = d
        return create_sdk_token_response

    @property
    def additional_keys(self) -> list[str]:
        return list(self.additional_properties.keys())

    def __getitem__(self, key: str) -> Any:
        return self.additional_properties[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.additional_properties[key] = value

    def __delitem__(self, key: str) -> None:
        del self.additional_properties[key]

    def __contains__(self, key: str) -> bool:
        return key in self.additional_properties
