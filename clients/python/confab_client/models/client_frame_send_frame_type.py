from enum import StrEnum


class ClientFrameSendFrameType(StrEnum):
    SEND = "send"

    def __str__(self) -> str:
        return str(self.value)
