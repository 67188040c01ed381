from enum import StrEnum


class ClientFrameReauthFrameType(StrEnum):
    REAUTH = "reauth"

    def __str__(self) -> str:
        return str(self.value)
