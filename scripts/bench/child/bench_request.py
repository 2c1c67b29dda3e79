"""The one request every side of the benchmark makes, shared by the children and the parent.

Kept free of imports so that a cold-start child pays nothing for it beyond its own bytecode.
"""

API_KEY = "bench-key"
USER_ID = "u1"
CALLBACK_URL = "https://a.example/cb"
REDIRECT_URL = "https://a.example/r"
PLATFORMS = ["youtube"]
SCOPES = ["profile_read"]
PATH = f"/users/{USER_ID}/sdk-token"
# Exactly the JSON the SDK sends for the call above.
BODY = {
    "user_platforms": ["YOUTUBE"],
    "enabled_scopes": ["PROFILE_READ"],
    "callback_url": CALLBACK_URL,
    "redirect_url": REDIRECT_URL,
}
