from enum import StrEnum


class ServerFramePongFrameType(StrEnum):
    PONG = "pong"

    def __str__(self) -> str:
        return str(self.value)
