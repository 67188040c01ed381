from http import HTTPStatus
from typing import Any

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.error_body import ErrorBody
from ...models.server_frame_ack_frame import ServerFrameAckFrame
from ...models.server_frame_error_frame import ServerFrameErrorFrame
from ...models.server_frame_joined_frame import ServerFrameJoinedFrame
from ...models.server_frame_membership_frame import ServerFrameMembershipFrame
from ...models.server_frame_message_deleted_frame import ServerFrameMessageDeletedFrame
from ...models.server_frame_message_frame import ServerFrameMessageFrame
from ...models.server_frame_message_updated_frame import ServerFrameMessageUpdatedFrame
from ...models.server_frame_pong_frame import ServerFramePongFrame
from ...models.server_frame_presence_frame import ServerFramePresenceFrame
from ...models.server_frame_reaction_frame import ServerFrameReactionFrame
from ...models.server_frame_read_event_frame import ServerFrameReadEventFrame
from ...models.server_frame_typing_frame import ServerFrameTypingFrame
from ...types import UNSET, Response, Unset


def _get_kwargs(
    *,
    ticket: str | Unset = UNSET,
) -> dict[str, Any]:

    params: dict[str, Any] = {}

    params["ticket"] = ticket

    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/api/v1/ws",
        "params": params,
    }

    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> (
    ErrorBody
    | ServerFrameAckFrame
    | ServerFrameErrorFrame
    | ServerFrameJoinedFrame
    | ServerFrameMembershipFrame
    | ServerFrameMessageDeletedFrame
    | ServerFrameMessageFrame
    | ServerFrameMessageUpdatedFrame
    | ServerFramePongFrame
    | ServerFramePresenceFrame
    | ServerFrameReactionFrame
    | ServerFrameReadEventFrame
    | ServerFrameTypingFrame
    | None
):
    if response.status_code == 101:

        def _parse_response_101(
            data: object,
        ) -> (
            ServerFrameAckFrame
            | ServerFrameErrorFrame
            | ServerFrameJoinedFrame
            | ServerFrameMembershipFrame
            | ServerFrameMessageDeletedFrame
            | ServerFrameMessageFrame
            | ServerFrameMessageUpdatedFrame
            | ServerFramePongFrame
            | ServerFramePresenceFrame
            | ServerFrameReactionFrame
            | ServerFrameReadEventFrame
            | ServerFrameTypingFrame
        ):
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                componentsschemas_server_frame_type_0 = (
                    ServerFrameJoinedFrame.from_dict(data)
                )

                return componentsschemas_server_frame_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                componentsschemas_server_frame_type_1 = ServerFrameAckFrame.from_dict(
                    data
                )

                return componentsschemas_server_frame_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                componentsschemas_server_frame_type_2 = (
                    ServerFrameMessageFrame.from_dict(data)
                )

                return componentsschemas_server_frame_type_2
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                componentsschemas_server_frame_type_3 = (
                    ServerFrameMessageUpdatedFrame.from_dict(data)
                )

                return componentsschemas_server_frame_type_3
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                componentsschemas_server_frame_type_4 = (
                    ServerFrameMessageDeletedFrame.from_dict(data)
                )

                return componentsschemas_server_frame_type_4
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                componentsschemas_server_frame_type_5 = (
                    ServerFramePresenceFrame.from_dict(data)
                )

                return componentsschemas_server_frame_type_5
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                componentsschemas_server_frame_type_6 = (
                    ServerFrameTypingFrame.from_dict(data)
                )

                return componentsschemas_server_frame_type_6
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                componentsschemas_server_frame_type_7 = (
                    ServerFrameReadEventFrame.from_dict(data)
                )

                return componentsschemas_server_frame_type_7
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                componentsschemas_server_frame_type_8 = (
                    ServerFrameMembershipFrame.from_dict(data)
                )

                return componentsschemas_server_frame_type_8
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                componentsschemas_server_frame_type_9 = ServerFrameErrorFrame.from_dict(
                    data
                )

                return componentsschemas_server_frame_type_9
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                componentsschemas_server_frame_type_10 = ServerFramePongFrame.from_dict(
                    data
                )

                return componentsschemas_server_frame_type_10
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            if not isinstance(data, dict):
                raise TypeError()
            componentsschemas_server_frame_type_11 = ServerFrameReactionFrame.from_dict(
                data
            )

            return componentsschemas_server_frame_type_11

        response_101 = _parse_response_101(response.json())

        return response_101

    if response.status_code == 400:
        response_400 = ErrorBody.from_dict(response.json())

        return response_400

    if response.status_code == 401:
        response_401 = ErrorBody.from_dict(response.json())

        return response_401

    if response.status_code == 403:
        response_403 = ErrorBody.from_dict(response.json())

        return response_403

    if response.status_code == 429:
        response_429 = ErrorBody.from_dict(response.json())

        return response_429

    if response.status_code == 500:
        response_500 = ErrorBody.from_dict(response.json())

        return response_500

    if response.status_code == 503:
        response_503 = ErrorBody.from_dict(response.json())

        return response_503

    if client.raise_on_unexpected_status:
        raise errors.UnexpectedStatus(response.status_code, response.content)
    else:
        return None


def _build_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Response[
    ErrorBody
    | ServerFrameAckFrame
    | ServerFrameErrorFrame
    | ServerFrameJoinedFrame
    | ServerFrameMembershipFrame
    | ServerFrameMessageDeletedFrame
    | ServerFrameMessageFrame
    | ServerFrameMessageUpdatedFrame
    | ServerFramePongFrame
    | ServerFramePresenceFrame
    | ServerFrameReactionFrame
    | ServerFrameReadEventFrame
    | ServerFrameTypingFrame
]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient | Client,
    ticket: str | Unset = UNSET,
) -> Response[
    ErrorBody
    | ServerFrameAckFrame
    | ServerFrameErrorFrame
    | ServerFrameJoinedFrame
    | ServerFrameMembershipFrame
    | ServerFrameMessageDeletedFrame
    | ServerFrameMessageFrame
    | ServerFrameMessageUpdatedFrame
    | ServerFramePongFrame
    | ServerFramePresenceFrame
    | ServerFrameReactionFrame
    | ServerFrameReadEventFrame
    | ServerFrameTypingFrame
]:
    """Open the real-time WebSocket gateway

     Authenticate with `Authorization: Bearer <access token>` or, from browsers,
    with `?ticket=` from `POST /api/v1/auth/ws-ticket` (single use, 30 s).
    No valid credential: 401 and no upgrade. A browser `Origin` outside
    `ALLOWED_ORIGINS`: 403. Frames are JSON text frames: `ClientFrame` and
    `ServerFrame` in the components; see also `openapi/asyncapi.yaml`.

    Args:
        ticket (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorBody | ServerFrameAckFrame | ServerFrameErrorFrame | ServerFrameJoinedFrame | ServerFrameMembershipFrame | ServerFrameMessageDeletedFrame | ServerFrameMessageFrame | ServerFrameMessageUpdatedFrame | ServerFramePongFrame | ServerFramePresenceFrame | ServerFrameReactionFrame | ServerFrameReadEventFrame | ServerFrameTypingFrame]
    """

    kwargs = _get_kwargs(
        ticket=ticket,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient | Client,
    ticket: str | Unset = UNSET,
) -> (
    ErrorBody
    | ServerFrameAckFrame
    | ServerFrameErrorFrame
    | ServerFrameJoinedFrame
    | ServerFrameMembershipFrame
    | ServerFrameMessageDeletedFrame
    | ServerFrameMessageFrame
    | ServerFrameMessageUpdatedFrame
    | ServerFramePongFrame
    | ServerFramePresenceFrame
    | ServerFrameReactionFrame
    | ServerFrameReadEventFrame
    | ServerFrameTypingFrame
    | None
):
    """Open the real-time WebSocket gateway

     Authenticate with `Authorization: Bearer <access token>` or, from browsers,
    with `?ticket=` from `POST /api/v1/auth/ws-ticket` (single use, 30 s).
    No valid credential: 401 and no upgrade. A browser `Origin` outside
    `ALLOWED_ORIGINS`: 403. Frames are JSON text frames: `ClientFrame` and
    `ServerFrame` in the components; see also `openapi/asyncapi.yaml`.

    Args:
        ticket (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorBody | ServerFrameAckFrame | ServerFrameErrorFrame | ServerFrameJoinedFrame | ServerFrameMembershipFrame | ServerFrameMessageDeletedFrame | ServerFrameMessageFrame | ServerFrameMessageUpdatedFrame | ServerFramePongFrame | ServerFramePresenceFrame | ServerFrameReactionFrame | ServerFrameReadEventFrame | ServerFrameTypingFrame
    """

    return sync_detailed(
        client=client,
        ticket=ticket,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient | Client,
    ticket: str | Unset = UNSET,
) -> Response[
    ErrorBody
    | ServerFrameAckFrame
    | ServerFrameErrorFrame
    | ServerFrameJoinedFrame
    | ServerFrameMembershipFrame
    | ServerFrameMessageDeletedFrame
    | ServerFrameMessageFrame
    | ServerFrameMessageUpdatedFrame
    | ServerFramePongFrame
    | ServerFramePresenceFrame
    | ServerFrameReactionFrame
    | ServerFrameReadEventFrame
    | ServerFrameTypingFrame
]:
    """Open the real-time WebSocket gateway

     Authenticate with `Authorization: Bearer <access token>` or, from browsers,
    with `?ticket=` from `POST /api/v1/auth/ws-ticket` (single use, 30 s).
    No valid credential: 401 and no upgrade. A browser `Origin` outside
    `ALLOWED_ORIGINS`: 403. Frames are JSON text frames: `ClientFrame` and
    `ServerFrame` in the components; see also `openapi/asyncapi.yaml`.

    Args:
        ticket (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorBody | ServerFrameAckFrame | ServerFrameErrorFrame | ServerFrameJoinedFrame | ServerFrameMembershipFrame | ServerFrameMessageDeletedFrame | ServerFrameMessageFrame | ServerFrameMessageUpdatedFrame | ServerFramePongFrame | ServerFramePresenceFrame | ServerFrameReactionFrame | ServerFrameReadEventFrame | ServerFrameTypingFrame]
    """

    kwargs = _get_kwargs(
        ticket=ticket,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient | Client,
    ticket: str | Unset = UNSET,
) -> (
    ErrorBody
    | ServerFrameAckFrame
    | ServerFrameErrorFrame
    | ServerFrameJoinedFrame
    | ServerFrameMembershipFrame
    | ServerFrameMessageDeletedFrame
    | ServerFrameMessageFrame
    | ServerFrameMessageUpdatedFrame
    | ServerFramePongFrame
    | ServerFramePresenceFrame
    | ServerFrameReactionFrame
    | ServerFrameReadEventFrame
    | ServerFrameTypingFrame
    | None
):
    """Open the real-time WebSocket gateway

     Authenticate with `Authorization: Bearer <access token>` or, from browsers,
    with `?ticket=` from `POST /api/v1/auth/ws-ticket` (single use, 30 s).
    No valid credential: 401 and no upgrade. A browser `Origin` outside
    `ALLOWED_ORIGINS`: 403. Frames are JSON text frames: `ClientFrame` and
    `ServerFrame` in the components; see also `openapi/asyncapi.yaml`.

    Args:
        ticket (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorBody | ServerFrameAckFrame | ServerFrameErrorFrame | ServerFrameJoinedFrame | ServerFrameMembershipFrame | ServerFrameMessageDeletedFrame | ServerFrameMessageFrame | ServerFrameMessageUpdatedFrame | ServerFramePongFrame | ServerFramePresenceFrame | ServerFrameReactionFrame | ServerFrameReadEventFrame | ServerFrameTypingFrame
    """

    return (
        await asyncio_detailed(
            client=client,
            ticket=ticket,
        )
    ).parsed
