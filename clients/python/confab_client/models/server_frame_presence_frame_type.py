from enum import StrEnum


class ServerFramePresenceFrameType(StrEnum):
    PRESENCE = "presence"

    def __str__(self) -> str:
        return str(self.value)
