from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.platform import Platform
from ..models.scope import Scope

T = TypeVar("T", bound="CreateSdkTokenRequest")


@_attrs_define
class CreateSdkTokenRequest:
    """The SDK token to create

    Attributes:
        user_platforms (list[Platform]): The platforms to create the SDK token for
        enabled_scopes (list[Scope]): The scopes to create the SDK token for
        callback_url (str): The callback URL to send the account connection response to
        redirect_url (str): The redirect URL to redirect the user after successful authentication
    """

    user_platforms: list[Platform]
    enabled_scopes: list[Scope]
    callback_url: str
    redirect_url: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        user_platforms = []
        for user_platforms_item_data in self.user_platforms:
            user_platforms_item = user_platforms_item_data.value
            user_platforms.append(user_platforms_item)

        enabled_scopes = []
        for enabled_scopes_item_data in self.enabled_scopes:
            enabled_scopes_item = enabled_scopes_item_data.value
            enabled_scopes.append(enabled_scopes_item)

        callback_url = self.callback_url

        redirect_url = self.redirect_url

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "user_platforms": user_platforms,
                "enabled_scopes": enabled_scopes,
                "callback_url": callback_url,
                "redirect_url": redirect_url,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        user_platforms = []
        _user_platforms = d.pop("user_platforms")
        for user_platforms_item_data in _user_platforms:
            user_platforms_item = Platform(user_platforms_item_data)

            user_platforms.append(user_platforms_item)

        enabled_scopes = []
        _enabled_scopes = d.pop("enabled_scopes")
        for enabled_scopes_item_data in _enabled_scopes:
            enabled_scopes_item = Scope(enabled_scopes_item_data)

            enabled_scopes.append(enabled_scopes_item)

        callback_url = d.pop("callback_url")

        redirect_url = d.pop("redirect_url")

        create_sdk_token_request = cls(
            user_platforms=user_platforms,
            enabled_scopes=enabled_scopes,
            callback_url=callback_url,
            redirect_url=redirect_url,
        )

        create_sdk_token_request.additional_properties = d
        return create_sdk_token_request

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
