from enum import StrEnum


class ServerFrameAckFrameType(StrEnum):
    ACK = "ack"

    def __str__(self) -> str:
        return str(self.value)
