from enum import StrEnum


class ClientFramePingFrameType(StrEnum):
    PING = "ping"

    def __str__(self) -> str:
        return str(self.value)
