from enum import StrEnum

from .._unknown import unknown_member


class Platform(StrEnum):
    FACEBOOK = "FACEBOOK"
    INSTAGRAM = "INSTAGRAM"
    INSTAPRO = "INSTAPRO"
    LINKEDIN = "LINKEDIN"
    TIKTOK = "TIKTOK"
    X = "X"
    YOUTUBE = "YOUTUBE"

    def __str__(self) -> str:
        return str(self.value)

    @classmethod
    def _missing_(cls, value: object) -> "Platform | None":
        # A value the API added after this was generated: kept while a response is parsed.
        return unknown_member(cls, value)
