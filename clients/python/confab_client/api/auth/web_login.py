from http import HTTPStatus
from typing import Any

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.error_body import ErrorBody
from ...models.login_request import LoginRequest
from ...models.web_marker import WebMarker
from ...models.web_session import WebSession
from ...types import Response


def _get_kwargs(
    *,
    body: LoginRequest,
    x_confab_web: WebMarker,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}
    headers["X-Confab-Web"] = str(x_confab_web)

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/api/v1/auth/web/login",
    }

    _kwargs["json"] = body.to_dict()

    headers["Content-Type"] = "application/json"

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

    if response.status_code == 403:
        response_403 = ErrorBody.from_dict(response.json())

        return response_403

    if response.status_code == 413:
        response_413 = ErrorBody.from_dict(response.json())

        return response_413

    if response.status_code == 415:
        response_415 = ErrorBody.from_dict(response.json())

        return response_415

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
    body: LoginRequest,
    x_confab_web: WebMarker,
) -> Response[ErrorBody | WebSession]:
    """Log in (web client): the refresh token goes into an HttpOnly cookie

     As `login`, but the answer holds only the access token; the refresh token
    is set as the `confab_refresh` cookie, which scripts cannot read. Needs the
    header `X-Confab-Web: 1`.

    Args:
        x_confab_web (WebMarker): The value of `X-Confab-Web`, which every web-session call
            carries (the web
            client sends it; without it, or with another value, 400 `bad_request`): a
            cross-origin page cannot add it without a CORS preflight, which confab never
            grants with credentials, on top of `SameSite=Strict`.
        body (LoginRequest):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorBody | WebSession]
    """

    kwargs = _get_kwargs(
        body=body,
        x_confab_web=x_confab_web,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient | Client,
    body: LoginRequest,
    x_confab_web: WebMarker,
) -> ErrorBody | WebSession | None:
    """Log in (web client): the refresh token goes into an HttpOnly cookie

     As `login`, but the answer holds only the access token; the refresh token
    is set as the `confab_refresh` cookie, which scripts cannot read. Needs the
    header `X-Confab-Web: 1`.

    Args:
        x_confab_web (WebMarker): The value of `X-Confab-Web`, which every web-session call
            carries (the web
            client sends it; without it, or with another value, 400 `bad_request`): a
            cross-origin page cannot add it without a CORS preflight, which confab never
            grants with credentials, on top of `SameSite=Strict`.
        body (LoginRequest):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorBody | WebSession
    """

    return sync_detailed(
        client=client,
        body=body,
        x_confab_web=x_confab_web,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient | Client,
    body: LoginRequest,
    x_confab_web: WebMarker,
) -> Response[ErrorBody | WebSession]:
    """Log in (web client): the refresh token goes into an HttpOnly cookie

     As `login`, but the answer holds only the access token; the refresh token
    is set as the `confab_refresh` cookie, which scripts cannot read. Needs the
    header `X-Confab-Web: 1`.

    Args:
        x_confab_web (WebMarker): The value of `X-Confab-Web`, which every web-session call
            carries (the web
            client sends it; without it, or with another value, 400 `bad_request`): a
            cross-origin page cannot add it without a CORS preflight, which confab never
            grants with credentials, on top of `SameSite=Strict`.
        body (LoginRequest):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorBody | WebSession]
    """

    kwargs = _get_kwargs(
        body=body,
        x_confab_web=x_confab_web,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient | Client,
    body: LoginRequest,
    x_confab_web: WebMarker,
) -> ErrorBody | WebSession | None:
    """Log in (web client): the refresh token goes into an HttpOnly cookie

     As `login`, but the answer holds only the access token; the refresh token
    is set as the `confab_refresh` cookie, which scripts cannot read. Needs the
    header `X-Confab-Web: 1`.

    Args:
        x_confab_web (WebMarker): The value of `X-Confab-Web`, which every web-session call
            carries (the web
            client sends it; without it, or with another value, 400 `bad_request`): a
            cross-origin page cannot add it without a CORS preflight, which confab never
            grants with credentials, on top of `SameSite=Strict`.
        body (LoginRequest):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorBody | WebSession
    """

    return (
        await asyncio_detailed(
            client=client,
            body=body,
            x_confab_web=x_confab_web,
        )
    ).parsed
