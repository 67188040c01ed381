from enum import StrEnum


class ClientFrameTypingClientFrameType(StrEnum):
    TYPING = "typing"

    def __str__(self) -> str:
        return str(self.value)
