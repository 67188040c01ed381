from enum import StrEnum


class ServerFrameMembershipFrameType(StrEnum):
    MEMBERSHIP = "membership"

    def __str__(self) -> str:
        return str(self.value)
