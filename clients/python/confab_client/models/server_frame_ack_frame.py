from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.server_frame_ack_frame_type import ServerFrameAckFrameType
from ..types import UNSET, Unset

T = TypeVar("T", bound="ServerFrameAckFrame")


@_attrs_define
class ServerFrameAckFrame:
    """server -> client

    Attributes:
        id (str):
        seq (int):
        type_ (ServerFrameAckFrameType):  Example: ack.
        client_id (str | Unset):
    """

    id: str
    seq: int
    type_: ServerFrameAckFrameType
    client_id: str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        id = self.id

        seq = self.seq

        type_ = self.type_.value

        client_id = self.client_id

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "id": id,
                "seq": seq,
                "type": type_,
            }
        )
        if client_id is not UNSET:
            field_dict["client_id"] = client_id

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        id = d.pop("id")

        seq = d.pop("seq")

        type_ = ServerFrameAckFrameType(d.pop("type"))

        client_id = d.pop("client_id", UNSET)

        server_frame_ack_frame = cls(
            id=id,
            seq=seq,
            type_=type_,
            client_id=client_id,
        )

        server_frame_ack_frame.additional_properties = d
        return server_frame_ack_frame

    @property
    def additional_keys(self) -> list[str]:
        return list(self.additional_properties.keys())

    def __getitem__(self, key: str) -> Any:
        return self.additional_properties[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.additional_properties[key] = value

    def __delitem__(self, key: str) -> None:
        del self.additional_properties[key]

    def __contains__(self, key: str) -> bool:
        return key in self.additional_properties
