"""Fixtures for the end-to-end tests of confab-client: they talk to the server at
CONFAB_URL (scripts/sdk-test starts one) and register fresh users for every test."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass

import pytest

from confab_client import AuthenticatedClient, Client
from confab_client.api.auth import login, register
from confab_client.models import LoginRequest, RegisterRequest, TokenPair, User

PASSWORD = "sdk test passphrase 5521"


@pytest.fixture(scope="session")
def base_url() -> str:
    url = os.environ.get("CONFAB_URL")
    if not url:
        raise RuntimeError("CONFAB_URL is not set: run these tests with scripts/sdk-test")
    return url


@dataclass
class Account:
    user: User
    tokens: TokenPair
    client: AuthenticatedClient


@pytest.fixture
def new_user(base_url: str):
    """An async factory: `alice = await new_user("alice")` registers and logs in a fresh user."""
    clients: list[AuthenticatedClient] = []

    async def make(prefix: str = "u") -> Account:
        name = f"{prefix}_{secrets.token_hex(5)}"
        async with Client(base_url=base_url, raise_on_unexpected_status=True) as anon:
            user = await register.asyncio(client=anon, body=RegisterRequest(username=name, password=PASSWORD))
            assert isinstance(user, User), user
            tokens = await login.asyncio(client=anon, body=LoginRequest(username=name, password=PASSWORD))
            assert isinstance(tokens, TokenPair), tokens
        client = AuthenticatedClient(base_url=base_url, token=tokens.access_token, raise_on_unexpected_status=True)
        clients.append(client)
        return Account(user, tokens, client)

    yield make
    for c in clients:
        c.get_httpx_client().close()
