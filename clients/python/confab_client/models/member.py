from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.group_role import GroupRole
from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.member_user import MemberUser


T = TypeVar("T", bound="Member")


@_attrs_define
class Member:
    """A group member with their role.

    Attributes:
        user (MemberUser): A member's user, with display name.
        role (GroupRole): A member's role in a group.
        joined_at (datetime.datetime):
        online (bool | Unset): Whether the user has a live connection. Omitted when the caller (a global
            admin who is not a member) shares no conversation with this user.
    """

    user: MemberUser
    role: GroupRole
    joined_at: datetime.datetime
    online: bool | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        user = self.user.to_dict()

        role = self.role.value

        joined_at = self.joined_at.isoformat()

        online = self.online

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "user": user,
                "role": role,
                "joined_at": joined_at,
            }
        )
        if online is not UNSET:
            field_dict["online"] = online

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.member_user import MemberUser

        d = dict(src_dict)
        user = MemberUser.from_dict(d.pop("user"))

        role = GroupRole(d.pop("role"))

        joined_at = datetime.datetime.fromisoformat(d.pop("joined_at"))

        online = d.pop("online", UNSET)

        member = cls(
            user=user,
            role=role,
            joined_at=joined_at,
            online=online,
        )

        member.additional_properties = d
        return member

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
