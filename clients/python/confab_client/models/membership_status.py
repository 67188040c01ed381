from enum import StrEnum


class MembershipStatus(StrEnum):
    ADDED = "added"
    REMOVED = "removed"

    def __str__(self) -> str:
        return str(self.value)
