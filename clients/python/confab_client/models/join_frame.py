from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

T = TypeVar("T", bound="JoinFrame")


@_attrs_define
class JoinFrame:
    """Join a conversation's room; messages with `seq > since` are replayed first,
    then (with `since_rev`) every older message changed after that rev, as it is
    now (`message_updated`, or `message_deleted`), ascending by `rev`.

        Attributes:
            conversation (str):
            since (int | Unset):
            since_rev (int | Unset): The `last_rev` of your previous `joined` (or the highest `rev` you hold).
    """

    conversation: str
    since: int | Unset = UNSET
    since_rev: int | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        conversation = self.conversation

        since = self.since

        since_rev = self.since_rev

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "conversation": conversation,
            }
        )
        if since is not UNSET:
            field_dict["since"] = since
        if since_rev is not UNSET:
            field_dict["since_rev"] = since_rev

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        conversation = d.pop("conversation")

        since = d.pop("since", UNSET)

        since_rev = d.pop("since_rev", UNSET)

        join_frame = cls(
            conversation=conversation,
            since=since,
            since_rev=since_rev,
        )

        join_frame.additional_properties = d
        return join_frame

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
