from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.group_role import GroupRole
from ..models.membership_status import MembershipStatus
from ..models.server_frame_membership_frame_type import ServerFrameMembershipFrameType
from ..types import UNSET, Unset

T = TypeVar("T", bound="ServerFrameMembershipFrame")


@_attrs_define
class ServerFrameMembershipFrame:
    """server -> client

    Attributes:
        conversation (str):
        status (MembershipStatus):
        type_ (ServerFrameMembershipFrameType):  Example: membership.
        role (GroupRole | Unset): A member's role in a group.
    """

    conversation: str
    status: MembershipStatus
    type_: ServerFrameMembershipFrameType
    role: GroupRole | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        conversation = self.conversation

        status = self.status.value

        type_ = self.type_.value

        role: str | Unset = UNSET
        if not isinstance(self.role, Unset):
            role = self.role.value

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "conversation": conversation,
                "status": status,
                "type": type_,
            }
        )
        if role is not UNSET:
            field_dict["role"] = role

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        conversation = d.pop("conversation")

        status = MembershipStatus(d.pop("status"))

        type_ = ServerFrameMembershipFrameType(d.pop("type"))

        _role = d.pop("role", UNSET)
        role: GroupRole | Unset
        if isinstance(_role, Unset):
            role = UNSET
        else:
            role = GroupRole(_role)

        server_frame_membership_frame = cls(
            conversation=conversation,
            status=status,
            type_=type_,
            role=role,
        )

        server_frame_membership_frame.additional_properties = d
        return server_frame_membership_frame

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
