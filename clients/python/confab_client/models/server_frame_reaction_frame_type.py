from enum import StrEnum


class ServerFrameReactionFrameType(StrEnum):
    REACTION = "reaction"

    def __str__(self) -> str:
        return str(self.value)
