from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.user_ref import UserRef


T = TypeVar("T", bound="ReplyTo")


@_attrs_define
class ReplyTo:
    """What a reply shows of the message it replies to.

    Attributes:
        id (str):
        seq (int):
        sender (UserRef): A user as frames show them.
        excerpt (str): The first 100 characters of its text as it is now (REST, a join's
            replay) or was when the reply was sent (a live `message` frame: follow
            the original's `message_updated`); empty once deleted.
        deleted (bool | Unset): The replied-to message was deleted. Default: False.
    """

    id: str
    seq: int
    sender: UserRef
    excerpt: str
    deleted: bool | Unset = False
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        id = self.id

        seq = self.seq

        sender = self.sender.to_dict()

        excerpt = self.excerpt

        deleted = self.deleted

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "id": id,
                "seq": seq,
                "sender": sender,
                "excerpt": excerpt,
            }
        )
        if deleted is not UNSET:
            field_dict["deleted"] = deleted

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.user_ref import UserRef

        d = dict(src_dict)
        id = d.pop("id")

        seq = d.pop("seq")

        sender = UserRef.from_dict(d.pop("sender"))

        excerpt = d.pop("excerpt")

        deleted = d.pop("deleted", UNSET)

        reply_to = cls(
            id=id,
            seq=seq,
            sender=sender,
            excerpt=excerpt,
            deleted=deleted,
        )

        reply_to.additional_properties = d
        return reply_to

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
