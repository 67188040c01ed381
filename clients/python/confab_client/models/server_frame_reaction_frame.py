from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.server_frame_reaction_frame_type import ServerFrameReactionFrameType

if TYPE_CHECKING:
    from ..models.user_ref import UserRef


T = TypeVar("T", bound="ServerFrameReactionFrame")


@_attrs_define
class ServerFrameReactionFrame:
    """server -> client

    Attributes:
        conversation (str):
        message (str):
        emoji (str):
        user (UserRef): A user as frames show them.
        on (bool): Added (`true`) or removed.
        count (int): The emoji's count after the change.
        rev (int): The change's `rev`: the message's `rev` is now this.
        type_ (ServerFrameReactionFrameType):  Example: reaction.
    """

    conversation: str
    message: str
    emoji: str
    user: UserRef
    on: bool
    count: int
    rev: int
    type_: ServerFrameReactionFrameType
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        conversation = self.conversation

        message = self.message

        emoji = self.emoji

        user = self.user.to_dict()

        on = self.on

        count = self.count

        rev = self.rev

        type_ = self.type_.value

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "conversation": conversation,
                "message": message,
                "emoji": emoji,
                "user": user,
                "on": on,
                "count": count,
                "rev": rev,
                "type": type_,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.user_ref import UserRef

        d = dict(src_dict)
        conversation = d.pop("conversation")

        message = d.pop("message")

        emoji = d.pop("emoji")

        user = UserRef.from_dict(d.pop("user"))

        on = d.pop("on")

        count = d.pop("count")

        rev = d.pop("rev")

        type_ = ServerFrameReactionFrameType(d.pop("type"))

        server_frame_reaction_frame = cls(
            conversation=conversation,
            message=message,
            emoji=emoji,
            user=user,
            on=on,
            count=count,
            rev=rev,
            type_=type_,
        )

        server_frame_reaction_frame.additional_properties = d
        return server_frame_reaction_frame

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
