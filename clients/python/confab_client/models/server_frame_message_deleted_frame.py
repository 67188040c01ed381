from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.server_frame_message_deleted_frame_type import (
    ServerFrameMessageDeletedFrameType,
)

T = TypeVar("T", bound="ServerFrameMessageDeletedFrame")


@_attrs_define
class ServerFrameMessageDeletedFrame:
    """server -> client

    Attributes:
        conversation (str):
        id (str):
        seq (int):
        rev (int): The change counter of the deletion.
        type_ (ServerFrameMessageDeletedFrameType):  Example: message_deleted.
    """

    conversation: str
    id: str
    seq: int
    rev: int
    type_: ServerFrameMessageDeletedFrameType
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        conversation = self.conversation

        id = self.id

        seq = self.seq

        rev = self.rev

        type_ = self.type_.value

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "conversation": conversation,
                "id": id,
                "seq": seq,
                "rev": rev,
                "type": type_,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        conversation = d.pop("conversation")

        id = d.pop("id")

        seq = d.pop("seq")

        rev = d.pop("rev")

        type_ = ServerFrameMessageDeletedFrameType(d.pop("type"))

        server_frame_message_deleted_frame = cls(
            conversation=conversation,
            id=id,
            seq=seq,
            rev=rev,
            type_=type_,
        )

        server_frame_message_deleted_frame.additional_properties = d
        return server_frame_message_deleted_frame

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
