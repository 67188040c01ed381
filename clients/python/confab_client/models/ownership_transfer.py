from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar

from attrs import define as _attrs_define

T = TypeVar("T", bound="OwnershipTransfer")


@_attrs_define
class OwnershipTransfer:
    """
    Attributes:
        user_id (str): A current member who becomes the owner; the old owner becomes an admin.
    """

    user_id: str

    def to_dict(self) -> dict[str, Any]:
        user_id = self.user_id

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "user_id": user_id,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        user_id = d.pop("user_id")

        ownership_transfer = cls(
            user_id=user_id,
        )

        return ownership_transfer
