"""Fixtures of the console tests: a console WebSocket as a logged-in user, through the real ASGI application."""

from __future__ import annotations

import pytest
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client

from tests.users import user_with_role

ORIGIN = b"http://localhost"


def session_cookie(user) -> bytes:
    """A Cookie header value logging `user` in (Django's session, as the admin's login would set it)."""
    client = Client()
    client.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}".encode()


@pytest.fixture
def viewer(transactional_db):
    """A staff member of the Viewers group (view permission on charge points, no commands)."""
    return user_with_role("viewer-1", "viewer")


@pytest.fixture
def superuser(transactional_db):
    return get_user_model().objects.create_superuser("root", password=None)


@pytest.fixture
async def console_connect():
    """Open ws/console/<id>/ consoles; closes them after the test.

    `communicator, accepted = await console_connect("CP-1", cookie=…, origin=…)`; no cookie: anonymous;
    origin None: no Origin header.
    """
    from csms.asgi import application

    opened: list[WebsocketCommunicator] = []

    async def connect(charge_point_id: str = "CP-1", *, cookie: bytes | None = None, origin: bytes | None = ORIGIN):
        headers = []
        if cookie is not None:
            headers.append((b"cookie", cookie))
        if origin is not None:
            headers.append((b"origin", origin))
        communicator = WebsocketCommunicator(application, f"/ws/console/{charge_point_id}/", headers=headers)
        accepted, _ = await communicator.connect(timeout=5)
        if accepted:
            opened.append(communicator)
        return communicator, accepted

    yield connect
    for communicator in opened:
        try:
            await communicator.disconnect()
        except Exception:
            pass
