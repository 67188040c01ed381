from enum import StrEnum


class ClientFrameReactFrameType(StrEnum):
    REACT = "react"

    def __str__(self) -> str:
        return str(self.value)
