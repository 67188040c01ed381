from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.client_frame_join_frame_type import ClientFrameJoinFrameType
from ..types import UNSET, Unset

T = TypeVar("T", bound="ClientFrameJoinFrame")


@_attrs_define
class ClientFrameJoinFrame:
    """client -> server

    Attributes:
        conversation (str):
        type_ (ClientFrameJoinFrameType):  Example: join.
        since (int | Unset):
        since_rev (int | Unset): The `last_rev` of your previous `joined` (or the highest `rev` you hold).
    """

    conversation: str
    type_: ClientFrameJoinFrameType
    since: int | Unset = UNSET
    since_rev: int | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        conversation = self.conversation

        type_ = self.type_.value

        since = self.since

        since_rev = self.since_rev

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "conversation": conversation,
                "type": type_,
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

        type_ = ClientFrameJoinFrameType(d.pop("type"))

        since = d.pop("since", UNSET)

        since_rev = d.pop("since_rev", UNSET)

        client_frame_join_frame = cls(
            conversation=conversation,
            type_=type_,
            since=since,
            since_rev=since_rev,
        )

        client_frame_join_frame.additional_properties = d
        return client_frame_join_frame

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
