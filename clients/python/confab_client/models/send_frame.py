from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

T = TypeVar("T", bound="SendFrame")


@_attrs_define
class SendFrame:
    """
    Attributes:
        conversation (str):
        body (str):
        client_id (str | Unset): Makes the send idempotent: a repeat gets the first `ack` again.
        reply_to (str | Unset): The id of the message (of this conversation) this one replies to.
    """

    conversation: str
    body: str
    client_id: str | Unset = UNSET
    reply_to: str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        conversation = self.conversation

        body = self.body

        client_id = self.client_id

        reply_to = self.reply_to

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "conversation": conversation,
                "body": body,
            }
        )
        if client_id is not UNSET:
            field_dict["client_id"] = client_id
        if reply_to is not UNSET:
            field_dict["reply_to"] = reply_to

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        conversation = d.pop("conversation")

        body = d.pop("body")

        client_id = d.pop("client_id", UNSET)

        reply_to = d.pop("reply_to", UNSET)

        send_frame = cls(
            conversation=conversation,
            body=body,
            client_id=client_id,
            reply_to=reply_to,
        )

        send_frame.additional_properties = d
        return send_frame

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
