from enum import StrEnum


class ServerFrameMessageDeletedFrameType(StrEnum):
    MESSAGE_DELETED = "message_deleted"

    def __str__(self) -> str:
        return str(self.value)
