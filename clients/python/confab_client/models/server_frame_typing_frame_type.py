from enum import StrEnum


class ServerFrameTypingFrameType(StrEnum):
    TYPING = "typing"

    def __str__(self) -> str:
        return str(self.value)
