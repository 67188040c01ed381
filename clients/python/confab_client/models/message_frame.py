from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.reaction_count import ReactionCount
    from ..models.reply_to import ReplyTo
    from ..models.user_ref import UserRef


T = TypeVar("T", bound="MessageFrame")


@_attrs_define
class MessageFrame:
    """
    Attributes:
        conversation (str):
        id (str):
        seq (int):
        sender (UserRef): A user as frames show them.
        body (str):
        created_at (datetime.datetime):
        rev (int): The conversation's change counter at this message's last edit or delete
            (0: never changed): keep the copy with the higher `rev`.
        edited_at (datetime.datetime | Unset):
        deleted (bool | Unset):  Default: False.
        reactions (list[ReactionCount] | Unset): Reactions, in the order each emoji was first used.
        reply_to (ReplyTo | Unset): What a reply shows of the message it replies to.
    """

    conversation: str
    id: str
    seq: int
    sender: UserRef
    body: str
    created_at: datetime.datetime
    rev: int
    edited_at: datetime.datetime | Unset = UNSET
    deleted: bool | Unset = False
    reactions: list[ReactionCount] | Unset = UNSET
    reply_to: ReplyTo | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        conversation = self.conversation

        id = self.id

        seq = self.seq

        sender = self.sender.to_dict()

        body = self.body

        created_at = self.created_at.isoformat()

        rev = self.rev

        edited_at: str | Unset = UNSET
        if not isinstance(self.edited_at, Unset):
            edited_at = self.edited_at.isoformat()

        deleted = self.deleted

        reactions: list[dict[str, Any]] | Unset = UNSET
        if not isinstance(self.reactions, Unset):
            reactions = []
            for reactions_item_data in self.reactions:
                reactions_item = reactions_item_data.to_dict()
                reactions.append(reactions_item)

        reply_to: dict[str, Any] | Unset = UNSET
        if not isinstance(self.reply_to, Unset):
            reply_to = self.reply_to.to_dict()

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "conversation": conversation,
                "id": id,
                "seq": seq,
                "sender": sender,
                "body": body,
                "created_at": created_at,
                "rev": rev,
            }
        )
        if edited_at is not UNSET:
            field_dict["edited_at"] = edited_at
        if deleted is not UNSET:
            field_dict["deleted"] = deleted
        if reactions is not UNSET:
            field_dict["reactions"] = reactions
        if reply_to is not UNSET:
            field_dict["reply_to"] = reply_to

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.reaction_count import ReactionCount
        from ..models.reply_to import ReplyTo
        from ..models.user_ref import UserRef

        d = dict(src_dict)
        conversation = d.pop("conversation")

        id = d.pop("id")

        seq = d.pop("seq")

        sender = UserRef.from_dict(d.pop("sender"))

        body = d.pop("body")

        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        rev = d.pop("rev")

        _edited_at = d.pop("edited_at", UNSET)
        edited_at: datetime.datetime | Unset
        if isinstance(_edited_at, Unset):
            edited_at = UNSET
        else:
            edited_at = datetime.datetime.fromisoformat(_edited_at)

        deleted = d.pop("deleted", UNSET)

        _reactions = d.pop("reactions", UNSET)
        reactions: list[ReactionCount] | Unset = UNSET
        if _reactions is not UNSET:
            reactions = []
            for reactions_item_data in _reactions:
                reactions_item = ReactionCount.from_dict(reactions_item_data)

                reactions.append(reactions_item)

        _reply_to = d.pop("reply_to", UNSET)
        reply_to: ReplyTo | Unset
        if isinstance(_reply_to, Unset):
            reply_to = UNSET
        else:
            reply_to = ReplyTo.from_dict(_reply_to)

        message_frame = cls(
            conversation=conversation,
            id=id,
            seq=seq,
            sender=sender,
            body=body,
            created_at=created_at,
            rev=rev,
            edited_at=edited_at,
            deleted=deleted,
            reactions=reactions,
            reply_to=reply_to,
        )

        message_frame.additional_properties = d
        return message_frame

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
