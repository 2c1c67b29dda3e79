"""Contains all the data models used in inputs/outputs"""

from .create_sdk_token_request import CreateSdkTokenRequest
from .create_sdk_token_response import CreateSdkTokenResponse
from .error_body import ErrorBody
from .platform import Platform
from .scope import Scope

__all__ = (
    "CreateSdkTokenRequest",
    "CreateSdkTokenResponse",
    "ErrorBody",
    "Platform",
    "Scope",
)
