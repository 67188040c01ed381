from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.server_frame_read_event_frame_type import ServerFrameReadEventFrameType

if TYPE_CHECKING:
    from ..models.user_ref import UserRef


T = TypeVar("T", bound="ServerFrameReadEventFrame")


@_attrs_define
class ServerFrameReadEventFrame:
    """server -> client

    Attributes:
        conversation (str):
        user (UserRef): A user as frames show them.
        seq (int):
        type_ (ServerFrameReadEventFrameType):  Example: read.
    """

    conversation: str
    user: UserRef
    seq: int
    type_: ServerFrameReadEventFrameType
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        conversation = self.conversation

        user = self.user.to_dict()

        seq = self.seq

        type_ = self.type_.value

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "conversation": conversation,
                "user": user,
                "seq": seq,
                "type": type_,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.user_ref import UserRef

        d = dict(src_dict)
        conversation = d.pop("conversation")

        user = UserRef.from_dict(d.pop("user"))

        seq = d.pop("seq")

        type_ = ServerFrameReadEventFrameType(d.pop("type"))

        server_frame_read_event_frame = cls(
            conversation=conversation,
            user=user,
            seq=seq,
            type_=type_,
        )

        server_frame_read_event_frame.additional_properties = d
        return server_frame_read_event_frame

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
