from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar

from attrs import define as _attrs_define

from ..models.visibility import Visibility
from ..types import UNSET, Unset

T = TypeVar("T", bound="GroupPatch")


@_attrs_define
class GroupPatch:
    """
    Attributes:
        name (str | Unset):
        description (str | Unset):
        visibility (Visibility | Unset):
    """

    name: str | Unset = UNSET
    description: str | Unset = UNSET
    visibility: Visibility | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        name = self.name

        description = self.description

        visibility: str | Unset = UNSET
        if not isinstance(self.visibility, Unset):
            visibility = self.visibility.value

        field_dict: dict[str, Any] = {}

        field_dict.update({})
        if name is not UNSET:
            field_dict["name"] = name
        if description is not UNSET:
            field_dict["description"] = description
        if visibility is not UNSET:
            field_dict["visibility"] = visibility

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        name = d.pop("name", UNSET)

        description = d.pop("description", UNSET)

        _visibility = d.pop("visibility", UNSET)
        visibility: Visibility | Unset
        if isinstance(_visibility, Unset):
            visibility = UNSET
        else:
            visibility = Visibility(_visibility)

        group_patch = cls(
            name=name,
            description=description,
            visibility=visibility,
        )

        return group_patch
