from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar

from attrs import define as _attrs_define

from ..types import UNSET, Unset

T = TypeVar("T", bound="SendMessage")


@_attrs_define
class SendMessage:
    """
    Attributes:
        body (str): 1-4000 characters after trimming; newlines and tabs allowed.
        client_id (str | Unset): Idempotency key: a repeat from the same sender returns the first message.
        reply_to (str | Unset): The id of the message (of this conversation) this one replies to.
    """

    body: str
    client_id: str | Unset = UNSET
    reply_to: str | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        body = self.body

        client_id = self.client_id

        reply_to = self.reply_to

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
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
        body = d.pop("body")

        client_id = d.pop("client_id", UNSET)

        reply_to = d.pop("reply_to", UNSET)

        send_message = cls(
            body=body,
            client_id=client_id,
            reply_to=reply_to,
        )

        return send_message
