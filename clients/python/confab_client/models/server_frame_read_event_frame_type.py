from enum import StrEnum


class ServerFrameReadEventFrameType(StrEnum):
    READ = "read"

    def __str__(self) -> str:
        return str(self.value)
