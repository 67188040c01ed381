from enum import StrEnum


class ClientFrameConversationRefType(StrEnum):
    TYPING = "typing"

    def __str__(self) -> str:
        return str(self.value)
