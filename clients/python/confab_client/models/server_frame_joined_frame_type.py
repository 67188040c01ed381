from enum import StrEnum


class ServerFrameJoinedFrameType(StrEnum):
    JOINED = "joined"

    def __str__(self) -> str:
        return str(self.value)
