from enum import StrEnum


class ServerFrameErrorFrameType(StrEnum):
    ERROR = "error"

    def __str__(self) -> str:
        return str(self.value)
