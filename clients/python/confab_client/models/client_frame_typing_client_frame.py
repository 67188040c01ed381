from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.client_frame_typing_client_frame_type import (
    ClientFrameTypingClientFrameType,
)

T = TypeVar("T", bound="ClientFrameTypingClientFrame")


@_attrs_define
class ClientFrameTypingClientFrame:
    """client -> server

    Attributes:
        conversation (str):
        type_ (ClientFrameTypingClientFrameType):  Example: typing.
    """

    conversation: str
    type_: ClientFrameTypingClientFrameType
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        conversation = self.conversation

        type_ = self.type_.value

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "conversation": conversation,
                "type": type_,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        conversation = d.pop("conversation")

        type_ = ClientFrameTypingClientFrameType(d.pop("type"))

        client_frame_typing_client_frame = cls(
            conversation=conversation,
            type_=type_,
        )

        client_frame_typing_client_frame.additional_properties = d
        return client_frame_typing_client_frame

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
