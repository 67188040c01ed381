from enum import StrEnum


class ClientFrameReadFrameType(StrEnum):
    READ = "read"

    def __str__(self) -> str:
        return str(self.value)
