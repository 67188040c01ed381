from http import HTTPStatus
from typing import Any, cast
from urllib.parse import quote

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.error_body import ErrorBody
from ...types import Response


def _get_kwargs(
    id: str,
    emoji: str,
) -> dict[str, Any]:

    _kwargs: dict[str, Any] = {
        "method": "put",
        "url": "/api/v1/messages/{id}/reactions/{emoji}".format(
            id=quote(str(id), safe=""),
            emoji=quote(str(emoji), safe=""),
        ),
    }

    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Any | ErrorBody | None:
    if response.status_code == 204:
        response_204 = cast(Any, None)
        return response_204

    if response.status_code == 400:
        response_400 = ErrorBody.from_dict(response.json())

        return response_400

    if response.status_code == 401:
        response_401 = ErrorBody.from_dict(response.json())

        return response_401

    if response.status_code == 403:
        response_403 = ErrorBody.from_dict(response.json())

        return response_403

    if response.status_code == 404:
        response_404 = ErrorBody.from_dict(response.json())

        return response_404

    if response.status_code == 409:
        response_409 = ErrorBody.from_dict(response.json())

        return response_409

    if response.status_code == 422:
        response_422 = ErrorBody.from_dict(response.json())

        return response_422

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
) -> Response[Any | ErrorBody]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    id: str,
    emoji: str,
    *,
    client: AuthenticatedClient,
) -> Response[Any | ErrorBody]:
    """React to a message

     Adds your reaction: one emoji (`👍`, percent-encoded in the path) or its
    shortcode (`:+1:`), stored as the emoji. Idempotent: reacting again
    changes nothing. A message takes at most 20 different emoji (the 21st is
    422); a deleted one takes none (409). The room gets a `reaction` event;
    the message's `rev` moves. Rate limited with sends.

    Args:
        id (str):
        emoji (str):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Any | ErrorBody]
    """

    kwargs = _get_kwargs(
        id=id,
        emoji=emoji,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    id: str,
    emoji: str,
    *,
    client: AuthenticatedClient,
) -> Any | ErrorBody | None:
    """React to a message

     Adds your reaction: one emoji (`👍`, percent-encoded in the path) or its
    shortcode (`:+1:`), stored as the emoji. Idempotent: reacting again
    changes nothing. A message takes at most 20 different emoji (the 21st is
    422); a deleted one takes none (409). The room gets a `reaction` event;
    the message's `rev` moves. Rate limited with sends.

    Args:
        id (str):
        emoji (str):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Any | ErrorBody
    """

    return sync_detailed(
        id=id,
        emoji=emoji,
        client=client,
    ).parsed


async def asyncio_detailed(
    id: str,
    emoji: str,
    *,
    client: AuthenticatedClient,
) -> Response[Any | ErrorBody]:
    """React to a message

     Adds your reaction: one emoji (`👍`, percent-encoded in the path) or its
    shortcode (`:+1:`), stored as the emoji. Idempotent: reacting again
    changes nothing. A message takes at most 20 different emoji (the 21st is
    422); a deleted one takes none (409). The room gets a `reaction` event;
    the message's `rev` moves. Rate limited with sends.

    Args:
        id (str):
        emoji (str):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Any | ErrorBody]
    """

    kwargs = _get_kwargs(
        id=id,
        emoji=emoji,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    id: str,
    emoji: str,
    *,
    client: AuthenticatedClient,
) -> Any | ErrorBody | None:
    """React to a message

     Adds your reaction: one emoji (`👍`, percent-encoded in the path) or its
    shortcode (`:+1:`), stored as the emoji. Idempotent: reacting again
    changes nothing. A message takes at most 20 different emoji (the 21st is
    422); a deleted one takes none (409). The room gets a `reaction` event;
    the message's `rev` moves. Rate limited with sends.

    Args:
        id (str):
        emoji (str):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Any | ErrorBody
    """

    return (
        await asyncio_detailed(
            id=id,
            emoji=emoji,
            client=client,
        )
    ).parsed
