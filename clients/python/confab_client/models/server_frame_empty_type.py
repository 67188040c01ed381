from enum import StrEnum


class ServerFrameEmptyType(StrEnum):
    PONG = "pong"

    def __str__(self) -> str:
        return str(self.value)
