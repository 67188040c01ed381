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
    from ..models.user_summary import UserSummary


T = TypeVar("T", bound="Message")


@_attrs_define
class Message:
    """A message. A deleted message keeps its id and seq and loses its body.

    Attributes:
        id (str):
        conversation_id (str):
        seq (int): Position in the conversation: strictly increasing.
        sender (UserSummary): A user as messages and members show them.
        body (str):
        created_at (datetime.datetime):
        deleted (bool):
        rev (int): The conversation's change counter at this message's last edit or delete
            (0: never changed). Of two copies of a message, keep the higher `rev`.
        reactions (list[ReactionCount]): Reactions, in the order each emoji was first used, with whether you
            reacted (`me`). Empty once deleted.
        client_id (str | Unset):
        edited_at (datetime.datetime | Unset):
        reply_to (ReplyTo | Unset): What a reply shows of the message it replies to.
    """

    id: str
    conversation_id: str
    seq: int
    sender: UserSummary
    body: str
    created_at: datetime.datetime
    deleted: bool
    rev: int
    reactions: list[ReactionCount]
    client_id: str | Unset = UNSET
    edited_at: datetime.datetime | Unset = UNSET
    reply_to: ReplyTo | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        id = self.id

        conversation_id = self.conversation_id

        seq = self.seq

        sender = self.sender.to_dict()

        body = self.body

        created_at = self.created_at.isoformat()

        deleted = self.deleted

        rev = self.rev

        reactions = []
        for reactions_item_data in self.reactions:
            reactions_item = reactions_item_data.to_dict()
            reactions.append(reactions_item)

        client_id = self.client_id

        edited_at: str | Unset = UNSET
        if not isinstance(self.edited_at, Unset):
            edited_at = self.edited_at.isoformat()

        reply_to: dict[str, Any] | Unset = UNSET
        if not isinstance(self.reply_to, Unset):
            reply_to = self.reply_to.to_dict()

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "id": id,
                "conversation_id": conversation_id,
                "seq": seq,
                "sender": sender,
                "body": body,
                "created_at": created_at,
                "deleted": deleted,
                "rev": rev,
                "reactions": reactions,
            }
        )
        if client_id is not UNSET:
            field_dict["client_id"] = client_id
        if edited_at is not UNSET:
            field_dict["edited_at"] = edited_at
        if reply_to is not UNSET:
            field_dict["reply_to"] = reply_to

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.reaction_count import ReactionCount
        from ..models.reply_to import ReplyTo
        from ..models.user_summary import UserSummary

        d = dict(src_dict)
        id = d.pop("id")

        conversation_id = d.pop("conversation_id")

        seq = d.pop("seq")

        sender = UserSummary.from_dict(d.pop("sender"))

        body = d.pop("body")

        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        deleted = d.pop("deleted")

        rev = d.pop("rev")

        reactions = []
        _reactions = d.pop("reactions")
        for reactions_item_data in _reactions:
            reactions_item = ReactionCount.from_dict(reactions_item_data)

            reactions.append(reactions_item)

        client_id = d.pop("client_id", UNSET)

        _edited_at = d.pop("edited_at", UNSET)
        edited_at: datetime.datetime | Unset
        if isinstance(_edited_at, Unset):
            edited_at = UNSET
        else:
            edited_at = datetime.datetime.fromisoformat(_edited_at)

        _reply_to = d.pop("reply_to", UNSET)
        reply_to: ReplyTo | Unset
        if isinstance(_reply_to, Unset):
            reply_to = UNSET
        else:
            reply_to = ReplyTo.from_dict(_reply_to)

        message = cls(
            id=id,
            conversation_id=conversation_id,
            seq=seq,
            sender=sender,
            body=body,
            created_at=created_at,
            deleted=deleted,
            rev=rev,
            reactions=reactions,
            client_id=client_id,
            edited_at=edited_at,
            reply_to=reply_to,
        )

        message.additional_properties = d
        return message

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
