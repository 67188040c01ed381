from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar

from attrs import define as _attrs_define

from ..models.group_role import GroupRole

T = TypeVar("T", bound="MemberRole")


@_attrs_define
class MemberRole:
    """The member's new role: `admin` or `member` (ownership moves only by transfer).

    Attributes:
        role (GroupRole): A member's role in a group.
    """

    role: GroupRole

    def to_dict(self) -> dict[str, Any]:
        role = self.role.value

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "role": role,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        role = GroupRole(d.pop("role"))

        member_role = cls(
            role=role,
        )

        return member_role
