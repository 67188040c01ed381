from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.conversation_kind import ConversationKind
from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.last_message_view import LastMessageView
    from ..models.user import User


T = TypeVar("T", bound="Conversation")


@_attrs_define
class Conversation:
    """A group's room or a direct conversation; its `id` is what WebSocket frames use.
    `peer` is the other participant (direct conversations only).

        Attributes:
            id (str):
            kind (ConversationKind):
            name (str): The group's name, or the peer's display name.
            last_seq (int):
            unread (int): Messages after the caller's read marker.
            peer (User | Unset): A user's public profile.
            last_message (LastMessageView | Unset): The newest message of a conversation.
    """

    id: str
    kind: ConversationKind
    name: str
    last_seq: int
    unread: int
    peer: User | Unset = UNSET
    last_message: LastMessageView | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        id = self.id

        kind = self.kind.value

        name = self.name

        last_seq = self.last_seq

        unread = self.unread

        peer: dict[str, Any] | Unset = UNSET
        if not isinstance(self.peer, Unset):
            peer = self.peer.to_dict()

        last_message: dict[str, Any] | Unset = UNSET
        if not isinstance(self.last_message, Unset):
            last_message = self.last_message.to_dict()

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "id": id,
                "kind": kind,
                "name": name,
                "last_seq": last_seq,
                "unread": unread,
            }
        )
        if peer is not UNSET:
            field_dict["peer"] = peer
        if last_message is not UNSET:
            field_dict["last_message"] = last_message

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.last_message_view import LastMessageView
        from ..models.user import User

        d = dict(src_dict)
        id = d.pop("id")

        kind = ConversationKind(d.pop("kind"))

        name = d.pop("name")

        last_seq = d.pop("last_seq")

        unread = d.pop("unread")

        _peer = d.pop("peer", UNSET)
        peer: User | Unset
        if isinstance(_peer, Unset):
            peer = UNSET
        else:
            peer = User.from_dict(_peer)

        _last_message = d.pop("last_message", UNSET)
        last_message: LastMessageView | Unset
        if isinstance(_last_message, Unset):
            last_message = UNSET
        else:
            last_message = LastMessageView.from_dict(_last_message)

        conversation = cls(
            id=id,
            kind=kind,
            name=name,
            last_seq=last_seq,
            unread=unread,
            peer=peer,
            last_message=last_message,
        )

        conversation.additional_properties = d
        return conversation

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
