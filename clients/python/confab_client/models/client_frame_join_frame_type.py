from enum import StrEnum


class ClientFrameJoinFrameType(StrEnum):
    JOIN = "join"

    def __str__(self) -> str:
        return str(self.value)
