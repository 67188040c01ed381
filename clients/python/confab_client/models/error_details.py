from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.error_details_fields import ErrorDetailsFields


T = TypeVar("T", bound="ErrorDetails")


@_attrs_define
class ErrorDetails:
    """Machine-readable details of some errors.

    Attributes:
        fields (ErrorDetailsFields | Unset): `validation_failed`: each invalid field and what is wrong with it.
        retry_after_secs (int | Unset): `rate_limited` and `server_busy`: seconds to wait (also `Retry-After`).
    """

    fields: ErrorDetailsFields | Unset = UNSET
    retry_after_secs: int | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        fields: dict[str, Any] | Unset = UNSET
        if not isinstance(self.fields, Unset):
            fields = self.fields.to_dict()

        retry_after_secs = self.retry_after_secs

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({})
        if fields is not UNSET:
            field_dict["fields"] = fields
        if retry_after_secs is not UNSET:
            field_dict["retry_after_secs"] = retry_after_secs

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.error_details_fields import ErrorDetailsFields

        d = dict(src_dict)
        _fields = d.pop("fields", UNSET)
        fields: ErrorDetailsFields | Unset
        if isinstance(_fields, Unset):
            fields = UNSET
        else:
            fields = ErrorDetailsFields.from_dict(_fields)

        retry_after_secs = d.pop("retry_after_secs", UNSET)

        error_details = cls(
            fields=fields,
            retry_after_secs=retry_after_secs,
        )

        error_details.additional_properties = d
        return error_details

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
