from enum import StrEnum


class ServerFrameMessageFrameType(StrEnum):
    MESSAGE = "message"

    def __str__(self) -> str:
        return str(self.value)
