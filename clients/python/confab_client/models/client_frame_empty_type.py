from enum import StrEnum


class ClientFrameEmptyType(StrEnum):
    PING = "ping"

    def __str__(self) -> str:
        return str(self.value)
