from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, Self, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.visibility import Visibility

T = TypeVar("T", bound="Group")


@_attrs_define
class Group:
    """A group. Its conversation (room) id is the group's id.

    Attributes:
        id (str):
        name (str):
        description (str):
        visibility (Visibility):
        owner_id (str):
        created_at (datetime.datetime):
        member_count (int):
    """

    id: str
    name: str
    description: str
    visibility: Visibility
    owner_id: str
    created_at: datetime.datetime
    member_count: int
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        id = self.id

        name = self.name

        description = self.description

        visibility = self.visibility.value

        owner_id = self.owner_id

        created_at = self.created_at.isoformat()

        member_count = self.member_count

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "id": id,
                "name": name,
                "description": description,
                "visibility": visibility,
                "owner_id": owner_id,
                "created_at": created_at,
                "member_count": member_count,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        id = d.pop("id")

        name = d.pop("name")

        description = d.pop("description")

        visibility = Visibility(d.pop("visibility"))

        owner_id = d.pop("owner_id")

        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        member_count = d.pop("member_count")

        group = cls(
            id=id,
            name=name,
            description=description,
            visibility=visibility,
            owner_id=owner_id,
            created_at=created_at,
            member_count=member_count,
        )

        group.additional_properties = d
        return group

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
