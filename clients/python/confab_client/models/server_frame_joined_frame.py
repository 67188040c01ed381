from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.server_frame_joined_frame_type import ServerFrameJoinedFrameType
from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.user_ref import UserRef


T = TypeVar("T", bound="ServerFrameJoinedFrame")


@_attrs_define
class ServerFrameJoinedFrame:
    """server -> client

    Attributes:
        conversation (str):
        last_seq (int):
        online (list[UserRef]): Users with at least one connection in the room now.
        last_rev (int): The conversation's change counter now: pass it as `since_rev` next time.
        type_ (ServerFrameJoinedFrameType):  Example: joined.
        truncated (bool | Unset): More was missed than a join replays: page the rest with REST history. Default: False.
        changes_truncated (bool | Unset): More changed than a join replays (`since_rev` too old): reload the
            history you hold (or page `GET /conversations/{id}/changes`). Default: False.
    """

    conversation: str
    last_seq: int
    online: list[UserRef]
    last_rev: int
    type_: ServerFrameJoinedFrameType
    truncated: bool | Unset = False
    changes_truncated: bool | Unset = False
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        conversation = self.conversation

        last_seq = self.last_seq

        online = []
        for online_item_data in self.online:
            online_item = online_item_data.to_dict()
            online.append(online_item)

        last_rev = self.last_rev

        type_ = self.type_.value

        truncated = self.truncated

        changes_truncated = self.changes_truncated

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "conversation": conversation,
                "last_seq": last_seq,
                "online": online,
                "last_rev": last_rev,
                "type": type_,
            }
        )
        if truncated is not UNSET:
            field_dict["truncated"] = truncated
        if changes_truncated is not UNSET:
            field_dict["changes_truncated"] = changes_truncated

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.user_ref import UserRef

        d = dict(src_dict)
        conversation = d.pop("conversation")

        last_seq = d.pop("last_seq")

        online = []
        _online = d.pop("online")
        for online_item_data in _online:
            online_item = UserRef.from_dict(online_item_data)

            online.append(online_item)

        last_rev = d.pop("last_rev")

        type_ = ServerFrameJoinedFrameType(d.pop("type"))

        truncated = d.pop("truncated", UNSET)

        changes_truncated = d.pop("changes_truncated", UNSET)

        server_frame_joined_frame = cls(
            conversation=conversation,
            last_seq=last_seq,
            online=online,
            last_rev=last_rev,
            type_=type_,
            truncated=truncated,
            changes_truncated=changes_truncated,
        )

        server_frame_joined_frame.additional_properties = d
        return server_frame_joined_frame

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
