from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="ReactFrame")


@_attrs_define
class ReactFrame:
    """Add (`on: true`) or remove your reaction to a message. Idempotent: the
    room hears a `reaction` only when something changed.

        Attributes:
            conversation (str):
            message (str):
            emoji (str): One emoji (`👍`) or its shortcode (`:+1:`).
            on (bool):
    """

    conversation: str
    message: str
    emoji: str
    on: bool
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        conversation = self.conversation

        message = self.message

        emoji = self.emoji

        on = self.on

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "conversation": conversation,
                "message": message,
                "emoji": emoji,
                "on": on,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        conversation = d.pop("conversation")

        message = d.pop("message")

        emoji = d.pop("emoji")

        on = d.pop("on")

        react_frame = cls(
            conversation=conversation,
            message=message,
            emoji=emoji,
            on=on,
        )

        react_frame.additional_properties = d
        return react_frame

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
