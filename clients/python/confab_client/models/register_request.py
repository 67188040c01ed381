from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar

from attrs import define as _attrs_define

from ..types import UNSET, Unset

T = TypeVar("T", bound="RegisterRequest")


@_attrs_define
class RegisterRequest:
    """
    Attributes:
        username (str): 3-32 characters of `a-z 0-9 _ . -`; stored lowercased, unique.
        password (str): 8-1024 characters; common or guessable passwords are refused.
        display_name (str | Unset): 1-64 characters; defaults to the username.
    """

    username: str
    password: str
    display_name: str | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        username = self.username

        password = self.password

        display_name = self.display_name

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "username": username,
                "password": password,
            }
        )
        if display_name is not UNSET:
            field_dict["display_name"] = display_name

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        username = d.pop("username")

        password = d.pop("password")

        display_name = d.pop("display_name", UNSET)

        register_request = cls(
            username=username,
            password=password,
            display_name=display_name,
        )

        return register_request
