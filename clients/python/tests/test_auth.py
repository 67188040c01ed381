"""Register, log in, refresh, WebSocket tickets and typed errors through confab-client."""

from __future__ import annotations

import secrets

from confab_client import AuthenticatedClient, Client
from confab_client.api.auth import create_ws_ticket, login, refresh, register
from confab_client.api.users import change_user_role, get_me
from confab_client.models import (
    ErrorBody, ErrorDetails, LoginRequest, RefreshRequest, RegisterRequest, Role, RoleChange, TokenPair, User, WsTicket,
)

from conftest import PASSWORD


async def test_register_login_refresh(base_url: str) -> None:
    name = f"reg_{secrets.token_hex(5)}"
    async with Client(base_url=base_url) as anon:
        created = await register.asyncio_detailed(client=anon, body=RegisterRequest(username=name, password=PASSWORD))
        assert created.status_code == 201
        assert isinstance(created.parsed, User) and created.parsed.username == name

        again = await register.asyncio_detailed(client=anon, body=RegisterRequest(username=name, password=PASSWORD))
        assert again.status_code == 409
        assert isinstance(again.parsed, ErrorBody) and again.parsed.error.code == "username_taken"

        # An invalid field: 422 with the typed details naming it.
        invalid = await register.asyncio_detailed(
            client=anon, body=RegisterRequest(username="No Spaces!", password=PASSWORD))
        assert invalid.status_code == 422 and isinstance(invalid.parsed, ErrorBody)
        assert invalid.parsed.error.code == "validation_failed"
        assert isinstance(invalid.parsed.error.details, ErrorDetails)
        assert "username" in invalid.parsed.error.details.fields.additional_properties

        bad = await login.asyncio_detailed(client=anon, body=LoginRequest(username=name, password="wrong " + PASSWORD))
        assert bad.status_code == 401 and isinstance(bad.parsed, ErrorBody)

        tokens = await login.asyncio(client=anon, body=LoginRequest(username=name, password=PASSWORD))
        assert isinstance(tokens, TokenPair) and tokens.token_type.lower() == "bearer"

        renewed = await refresh.asyncio(client=anon, body=RefreshRequest(refresh_token=tokens.refresh_token))
        assert isinstance(renewed, TokenPair)
        assert renewed.refresh_token != tokens.refresh_token
        # Refresh tokens rotate. Presented again within the retry grace (a client whose
        # answer was lost), the old one gets a pair of its own instead of a logout;
        # after the grace it would be a replay that revokes the family.
        retried = await refresh.asyncio_detailed(client=anon, body=RefreshRequest(refresh_token=tokens.refresh_token))
        assert retried.status_code == 200 and isinstance(retried.parsed, TokenPair)
        assert retried.parsed.refresh_token != renewed.refresh_token

    async with AuthenticatedClient(base_url=base_url, token=renewed.access_token) as client:
        me = await get_me.asyncio(client=client)
        assert isinstance(me, User) and me.username == name and me.role == Role.USER
        ticket = await create_ws_ticket.asyncio(client=client)
        assert isinstance(ticket, WsTicket) and ticket.ticket and ticket.expires_in > 0


async def test_forbidden_call_gets_typed_error(new_user) -> None:
    alice, bob = await new_user("alice"), await new_user("bob")
    # Only admins change roles: a user gets 403 with the error envelope, typed.
    resp = await change_user_role.asyncio_detailed(bob.user.id, client=alice.client, body=RoleChange(role=Role.ADMIN))
    assert resp.status_code == 403
    assert isinstance(resp.parsed, ErrorBody)
    assert resp.parsed.error.code == "forbidden"
    assert resp.parsed.error.message


async def test_unauthenticated_call_gets_401(base_url: str) -> None:
    async with AuthenticatedClient(base_url=base_url, token="not-a-token") as client:
        resp = await get_me.asyncio_detailed(client=client)
    assert resp.status_code == 401
    assert isinstance(resp.parsed, ErrorBody) and resp.parsed.error.code == "invalid_token"
