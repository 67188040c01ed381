from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.server_frame_typing_frame_type import ServerFrameTypingFrameType

if TYPE_CHECKING:
    from ..models.user_ref import UserRef


T = TypeVar("T", bound="ServerFrameTypingFrame")


@_attrs_define
class ServerFrameTypingFrame:
    """server -> client

    Attributes:
        conversation (str):
        user (UserRef): A user as frames show them.
        type_ (ServerFrameTypingFrameType):  Example: typing.
    """

    conversation: str
    user: UserRef
    type_: ServerFrameTypingFrameType
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        conversation = self.conversation

        user = self.user.to_dict()

        type_ = self.type_.value

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "conversation": conversation,
                "user": user,
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

        type_ = ServerFrameTypingFrameType(d.pop("type"))

        server_frame_typing_frame = cls(
            conversation=conversation,
            user=user,
            type_=type_,
        )

        server_frame_typing_frame.additional_properties = d
        return server_frame_typing_frame

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
