from http import HTTPStatus
from typing import Any
from urllib.parse import quote

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.changes import Changes
from ...models.error_body import ErrorBody
from ...types import UNSET, Response, Unset


def _get_kwargs(
    id: str,
    *,
    since_rev: int,
    limit: int | Unset = UNSET,
) -> dict[str, Any]:

    params: dict[str, Any] = {}

    params["since_rev"] = since_rev

    params["limit"] = limit

    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/api/v1/conversations/{id}/changes".format(
            id=quote(str(id), safe=""),
        ),
        "params": params,
    }

    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Changes | ErrorBody | None:
    if response.status_code == 200:
        response_200 = Changes.from_dict(response.json())

        return response_200

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
) -> Response[Changes | ErrorBody]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    id: str,
    *,
    client: AuthenticatedClient,
    since_rev: int,
    limit: int | Unset = UNSET,
) -> Response[Changes | ErrorBody]:
    """Read what changed since a rev

     The messages edited or deleted after `since_rev` (a `last_rev` from
    `joined`, this operation, or the highest `rev` you hold), as they are now,
    ascending by `rev`: what a client without a socket needs to bring the
    history it holds up to date. A page covers at most `limit` changes; pass
    its `last_rev` as `since_rev` for the next while `has_more`. New messages
    are not changes: read them with `listMessages?after=`.

    Args:
        id (str):
        since_rev (int):
        limit (int | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Changes | ErrorBody]
    """

    kwargs = _get_kwargs(
        id=id,
        since_rev=since_rev,
        limit=limit,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    id: str,
    *,
    client: AuthenticatedClient,
    since_rev: int,
    limit: int | Unset = UNSET,
) -> Changes | ErrorBody | None:
    """Read what changed since a rev

     The messages edited or deleted after `since_rev` (a `last_rev` from
    `joined`, this operation, or the highest `rev` you hold), as they are now,
    ascending by `rev`: what a client without a socket needs to bring the
    history it holds up to date. A page covers at most `limit` changes; pass
    its `last_rev` as `since_rev` for the next while `has_more`. New messages
    are not changes: read them with `listMessages?after=`.

    Args:
        id (str):
        since_rev (int):
        limit (int | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Changes | ErrorBody
    """

    return sync_detailed(
        id=id,
        client=client,
        since_rev=since_rev,
        limit=limit,
    ).parsed


async def asyncio_detailed(
    id: str,
    *,
    client: AuthenticatedClient,
    since_rev: int,
    limit: int | Unset = UNSET,
) -> Response[Changes | ErrorBody]:
    """Read what changed since a rev

     The messages edited or deleted after `since_rev` (a `last_rev` from
    `joined`, this operation, or the highest `rev` you hold), as they are now,
    ascending by `rev`: what a client without a socket needs to bring the
    history it holds up to date. A page covers at most `limit` changes; pass
    its `last_rev` as `since_rev` for the next while `has_more`. New messages
    are not changes: read them with `listMessages?after=`.

    Args:
        id (str):
        since_rev (int):
        limit (int | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Changes | ErrorBody]
    """

    kwargs = _get_kwargs(
        id=id,
        since_rev=since_rev,
        limit=limit,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    id: str,
    *,
    client: AuthenticatedClient,
    since_rev: int,
    limit: int | Unset = UNSET,
) -> Changes | ErrorBody | None:
    """Read what changed since a rev

     The messages edited or deleted after `since_rev` (a `last_rev` from
    `joined`, this operation, or the highest `rev` you hold), as they are now,
    ascending by `rev`: what a client without a socket needs to bring the
    history it holds up to date. A page covers at most `limit` changes; pass
    its `last_rev` as `since_rev` for the next while `has_more`. New messages
    are not changes: read them with `listMessages?after=`.

    Args:
        id (str):
        since_rev (int):
        limit (int | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Changes | ErrorBody
    """

    return (
        await asyncio_detailed(
            id=id,
            client=client,
            since_rev=since_rev,
            limit=limit,
        )
    ).parsed
