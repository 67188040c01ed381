from enum import StrEnum


class ServerFrameMessageUpdatedFrameType(StrEnum):
    MESSAGE_UPDATED = "message_updated"

    def __str__(self) -> str:
        return str(self.value)
