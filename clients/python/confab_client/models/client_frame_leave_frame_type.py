from enum import StrEnum


class ClientFrameLeaveFrameType(StrEnum):
    LEAVE = "leave"

    def __str__(self) -> str:
        return str(self.value)
