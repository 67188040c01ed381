from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

if TYPE_CHECKING:
    from ..models.user_summary import UserSummary


T = TypeVar("T", bound="Presence")


@_attrs_define
class Presence:
    """Who is in a conversation's room right now.

    Attributes:
        conversation_id (str):
        online (list[UserSummary]):
    """

    conversation_id: str
    online: list[UserSummary]
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        conversation_id = self.conversation_id

        online = []
        for online_item_data in self.online:
            online_item = online_item_data.to_dict()
            online.append(online_item)

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "conversation_id": conversation_id,
                "online": online,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.user_summary import UserSummary

        d = dict(src_dict)
        conversation_id = d.pop("conversation_id")

        online = []
        _online = d.pop("online")
        for online_item_data in _online:
            online_item = UserSummary.from_dict(online_item_data)

            online.append(online_item)

        presence = cls(
            conversation_id=conversation_id,
            online=online,
        )

        presence.additional_properties = d
        return presence

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
