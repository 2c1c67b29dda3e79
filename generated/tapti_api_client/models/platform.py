from enum import StrEnum


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
