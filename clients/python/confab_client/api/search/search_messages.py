import datetime
from http import HTTPStatus
from typing import Any

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.error_body import ErrorBody
from ...models.search_page import SearchPage
from ...types import UNSET, Response, Unset


def _get_kwargs(
    *,
    q: str,
    conversation: str | Unset = UNSET,
    sender: str | Unset = UNSET,
    after: datetime.datetime | Unset = UNSET,
    before: datetime.datetime | Unset = UNSET,
    limit: int | Unset = UNSET,
    cursor: str | Unset = UNSET,
) -> dict[str, Any]:

    params: dict[str, Any] = {}

    params["q"] = q

    params["conversation"] = conversation

    params["sender"] = sender

    json_after: str | Unset = UNSET
    if not isinstance(after, Unset):
        json_after = after.isoformat()
    params["after"] = json_after

    json_before: str | Unset = UNSET
    if not isinstance(before, Unset):
        json_before = before.isoformat()
    params["before"] = json_before

    params["limit"] = limit

    params["cursor"] = cursor

    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/api/v1/search/messages",
        "params": params,
    }

    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> ErrorBody | SearchPage | None:
    if response.status_code == 200:
        response_200 = SearchPage.from_dict(response.json())

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
) -> Response[ErrorBody | SearchPage]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient,
    q: str,
    conversation: str | Unset = UNSET,
    sender: str | Unset = UNSET,
    after: datetime.datetime | Unset = UNSET,
    before: datetime.datetime | Unset = UNSET,
    limit: int | Unset = UNSET,
    cursor: str | Unset = UNSET,
) -> Response[ErrorBody | SearchPage]:
    """Search the messages you may read

     Finds messages in the groups you are a member of and the DMs you are in,
    newest first. `q` searches message text only: words (every one must
    match, anywhere in a word, any script: `rust` finds "trustworthy", `東京`
    finds "東京都"), `"a phrase"` (those words in that order) and `prefix*` (at
    the start of a word); matching ignores case. Everything else in `q` is
    plain text: it never names a field or widens the search. Filters are
    parameters. Deleted messages are never found, edited ones by their
    current text only. A message is searchable within about a second of
    being sent.

    Args:
        q (str):
        conversation (str | Unset):
        sender (str | Unset):
        after (datetime.datetime | Unset):
        before (datetime.datetime | Unset):
        limit (int | Unset):
        cursor (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorBody | SearchPage]
    """

    kwargs = _get_kwargs(
        q=q,
        conversation=conversation,
        sender=sender,
        after=after,
        before=before,
        limit=limit,
        cursor=cursor,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient,
    q: str,
    conversation: str | Unset = UNSET,
    sender: str | Unset = UNSET,
    after: datetime.datetime | Unset = UNSET,
    before: datetime.datetime | Unset = UNSET,
    limit: int | Unset = UNSET,
    cursor: str | Unset = UNSET,
) -> ErrorBody | SearchPage | None:
    """Search the messages you may read

     Finds messages in the groups you are a member of and the DMs you are in,
    newest first. `q` searches message text only: words (every one must
    match, anywhere in a word, any script: `rust` finds "trustworthy", `東京`
    finds "東京都"), `"a phrase"` (those words in that order) and `prefix*` (at
    the start of a word); matching ignores case. Everything else in `q` is
    plain text: it never names a field or widens the search. Filters are
    parameters. Deleted messages are never found, edited ones by their
    current text only. A message is searchable within about a second of
    being sent.

    Args:
        q (str):
        conversation (str | Unset):
        sender (str | Unset):
        after (datetime.datetime | Unset):
        before (datetime.datetime | Unset):
        limit (int | Unset):
        cursor (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorBody | SearchPage
    """

    return sync_detailed(
        client=client,
        q=q,
        conversation=conversation,
        sender=sender,
        after=after,
        before=before,
        limit=limit,
        cursor=cursor,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
    q: str,
    conversation: str | Unset = UNSET,
    sender: str | Unset = UNSET,
    after: datetime.datetime | Unset = UNSET,
    before: datetime.datetime | Unset = UNSET,
    limit: int | Unset = UNSET,
    cursor: str | Unset = UNSET,
) -> Response[ErrorBody | SearchPage]:
    """Search the messages you may read

     Finds messages in the groups you are a member of and the DMs you are in,
    newest first. `q` searches message text only: words (every one must
    match, anywhere in a word, any script: `rust` finds "trustworthy", `東京`
    finds "東京都"), `"a phrase"` (those words in that order) and `prefix*` (at
    the start of a word); matching ignores case. Everything else in `q` is
    plain text: it never names a field or widens the search. Filters are
    parameters. Deleted messages are never found, edited ones by their
    current text only. A message is searchable within about a second of
    being sent.

    Args:
        q (str):
        conversation (str | Unset):
        sender (str | Unset):
        after (datetime.datetime | Unset):
        before (datetime.datetime | Unset):
        limit (int | Unset):
        cursor (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorBody | SearchPage]
    """

    kwargs = _get_kwargs(
        q=q,
        conversation=conversation,
        sender=sender,
        after=after,
        before=before,
        limit=limit,
        cursor=cursor,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient,
    q: str,
    conversation: str | Unset = UNSET,
    sender: str | Unset = UNSET,
    after: datetime.datetime | Unset = UNSET,
    before: datetime.datetime | Unset = UNSET,
    limit: int | Unset = UNSET,
    cursor: str | Unset = UNSET,
) -> ErrorBody | SearchPage | None:
    """Search the messages you may read

     Finds messages in the groups you are a member of and the DMs you are in,
    newest first. `q` searches message text only: words (every one must
    match, anywhere in a word, any script: `rust` finds "trustworthy", `東京`
    finds "東京都"), `"a phrase"` (those words in that order) and `prefix*` (at
    the start of a word); matching ignores case. Everything else in `q` is
    plain text: it never names a field or widens the search. Filters are
    parameters. Deleted messages are never found, edited ones by their
    current text only. A message is searchable within about a second of
    being sent.

    Args:
        q (str):
        conversation (str | Unset):
        sender (str | Unset):
        after (datetime.datetime | Unset):
        before (datetime.datetime | Unset):
        limit (int | Unset):
        cursor (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorBody | SearchPage
    """

    return (
        await asyncio_detailed(
            client=client,
            q=q,
            conversation=conversation,
            sender=sender,
            after=after,
            before=before,
            limit=limit,
            cursor=cursor,
        )
    ).parsed
