from http import HTTPStatus
from typing import Any

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.error_body import ErrorBody
from ...models.web_marker import WebMarker
from ...models.web_session import WebSession
from ...types import UNSET, Response, Unset


def _get_kwargs(
    *,
    x_confab_web: WebMarker,
    confab_refresh: str | Unset = UNSET,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}
    headers["X-Confab-Web"] = str(x_confab_web)

    cookies = {}
    if confab_refresh is not UNSET:
        cookies["confab_refresh"] = confab_refresh

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/api/v1/auth/web/refresh",
        "cookies": cookies,
    }

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> ErrorBody | WebSession | None:
    if response.status_code == 200:
        response_200 = WebSession.from_dict(response.json())

        return response_200

    if response.status_code == 400:
        response_400 = ErrorBody.from_dict(response.json())

        return response_400

    if response.status_code == 401:
        response_401 = ErrorBody.from_dict(response.json())

        return response_401

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
) -> Response[ErrorBody | WebSession]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient | Client,
    x_confab_web: WebMarker,
    confab_refresh: str | Unset = UNSET,
) -> Response[ErrorBody | WebSession]:
    """Refresh (web client): rotates the cookie, returns a new access token

     The refresh token comes from the `confab_refresh` cookie and is rotated as
    in `refresh` (a reused one revokes the login). Needs `X-Confab-Web: 1`.

    Args:
        x_confab_web (WebMarker): The value of `X-Confab-Web`, which every web-session call
            carries (the web
            client sends it; without it, or with another value, 400 `bad_request`): a
            cross-origin page cannot add it without a CORS preflight, which confab never
            grants with credentials, on top of `SameSite=Strict`.
        confab_refresh (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorBody | WebSession]
    """

    kwargs = _get_kwargs(
        x_confab_web=x_confab_web,
        confab_refresh=confab_refresh,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient | Client,
    x_confab_web: WebMarker,
    confab_refresh: str | Unset = UNSET,
) -> ErrorBody | WebSession | None:
    """Refresh (web client): rotates the cookie, returns a new access token

     The refresh token comes from the `confab_refresh` cookie and is rotated as
    in `refresh` (a reused one revokes the login). Needs `X-Confab-Web: 1`.

    Args:
        x_confab_web (WebMarker): The value of `X-Confab-Web`, which every web-session call
            carries (the web
            client sends it; without it, or with another value, 400 `bad_request`): a
            cross-origin page cannot add it without a CORS preflight, which confab never
            grants with credentials, on top of `SameSite=Strict`.
        confab_refresh (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorBody | WebSession
    """

    return sync_detailed(
        client=client,
        x_confab_web=x_confab_web,
        confab_refresh=confab_refresh,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient | Client,
    x_confab_web: WebMarker,
    confab_refresh: str | Unset = UNSET,
) -> Response[ErrorBody | WebSession]:
    """Refresh (web client): rotates the cookie, returns a new access token

     The refresh token comes from the `confab_refresh` cookie and is rotated as
    in `refresh` (a reused one revokes the login). Needs `X-Confab-Web: 1`.

    Args:
        x_confab_web (WebMarker): The value of `X-Confab-Web`, which every web-session call
            carries (the web
            client sends it; without it, or with another value, 400 `bad_request`): a
            cross-origin page cannot add it without a CORS preflight, which confab never
            grants with credentials, on top of `SameSite=Strict`.
        confab_refresh (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorBody | WebSession]
    """

    kwargs = _get_kwargs(
        x_confab_web=x_confab_web,
        confab_refresh=confab_refresh,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient | Client,
    x_confab_web: WebMarker,
    confab_refresh: str | Unset = UNSET,
) -> ErrorBody | WebSession | None:
    """Refresh (web client): rotates the cookie, returns a new access token

     The refresh token comes from the `confab_refresh` cookie and is rotated as
    in `refresh` (a reused one revokes the login). Needs `X-Confab-Web: 1`.

    Args:
        x_confab_web (WebMarker): The value of `X-Confab-Web`, which every web-session call
            carries (the web
            client sends it; without it, or with another value, 400 `bad_request`): a
            cross-origin page cannot add it without a CORS preflight, which confab never
            grants with credentials, on top of `SameSite=Strict`.
        confab_refresh (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorBody | WebSession
    """

    return (
        await asyncio_detailed(
            client=client,
            x_confab_web=x_confab_web,
            confab_refresh=confab_refresh,
        )
    ).parsed
