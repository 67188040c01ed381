from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, Self, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.role import Role
from ..types import UNSET, Unset

T = TypeVar("T", bound="User")


@_attrs_define
class User:
    """A user's public profile.

    Attributes:
        id (str):
        username (str):
        display_name (str):
        role (Role): Global role of a user.
        created_at (datetime.datetime):
        online (bool | Unset): Whether the user has a live connection. Present in `GET /users/{id}` and on
            DM peers, and only to the user themself or someone who shares a group with
            them, or a DM in which they have written (opening a DM reveals nothing).
    """

    id: str
    username: str
    display_name: str
    role: Role
    created_at: datetime.datetime
    online: bool | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        id = self.id

        username = self.username

        display_name = self.display_name

        role = self.role.value

        created_at = self.created_at.isoformat()

        online = self.online

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "id": id,
                "username": username,
                "display_name": display_name,
                "role": role,
                "created_at": created_at,
            }
        )
        if online is not UNSET:
            field_dict["online"] = online

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        id = d.pop("id")

        username = d.pop("username")

        display_name = d.pop("display_name")

        role = Role(d.pop("role"))

        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        online = d.pop("online", UNSET)

        user = cls(
            id=id,
            username=username,
            display_name=display_name,
            role=role,
            created_at=created_at,
            online=online,
        )

        user.additional_properties = d
        return user

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
