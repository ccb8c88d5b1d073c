"""Every GET operation of the OpenAPI schema, and the POSTs that need no connected charge point, driven by schemathesis.

In-process (WSGI), as a superuser, with examples generated from the schema's
parameters and bodies: no answer may be a 500, and every answer under /api/
is JSON (or the CSV asked for). Derandomized and a few examples an operation,
so it is a fast, repeatable test rather than a fuzzing campaign.
"""

from __future__ import annotations

import pytest
import schemathesis
from django.contrib.auth import get_user_model
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.test import Client
from hypothesis import HealthCheck, Phase, given, settings

from chargepoints.models import ChargePoint
from transactions.models import IdTag

CSRF = "f" * 32  # the CSRF cookie and header a session-authenticated POST needs


@pytest.fixture
def api_schema(db):
    # The WSGI handler closes the database connection after each request, which would end the test's
    # transaction; Django's test client keeps it open the same way.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield _schema()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def _schema():
    user = get_user_model().objects.create_superuser("fuzz", password="x")
    ChargePoint.objects.create(id="CP-1")
    IdTag.objects.create(id_tag="TAG-1")
    client = Client()
    client.force_login(user)
    loaded = schemathesis.openapi.from_wsgi("/api/schema/?format=json", get_wsgi_application())
    return loaded, {"Cookie": f"sessionid={client.cookies['sessionid'].value}; csrftoken={CSRF}", "X-CSRFToken": CSRF}


# POSTs that answer without a charge point on the line; commands and operations would wait for one.
SAFE_POSTS = r"^/api/v1/(chargepoints/|id-tags/(import/)?|transactions/\{id\}/close/)$"
FAST = settings(
    max_examples=3,
    derandomize=True,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
    phases=[Phase.explicit, Phase.generate],
)


def _check(case, response) -> None:
    assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.status_code} {response.text[:500]}"
    if case.path.startswith("/api/") and response.status_code != 204:
        content_type = response.headers.get("Content-Type", response.headers.get("content-type", [""]))
        content_type = content_type[0] if isinstance(content_type, list) else content_type
        assert content_type.startswith(("application/json", "text/csv")), f"{case.method} {case.formatted_path}: {content_type}"


def _drive(schema, headers: dict) -> int:
    # schemathesis's pytest plugin does not run under pytest 9; drive its hypothesis strategies directly.
    count = 0
    for result in schema.get_all_operations():
        operation = result.ok()

        @FAST
        @given(case=operation.as_strategy())
        def run(case):
            _check(case, case.call(headers=headers))

        run()
        count += 1
    return count


def test_no_get_operation_answers_500_or_html(api_schema):
    schema, headers = api_schema
    assert _drive(schema.include(method="GET"), headers) > 20


def test_no_sampled_post_operation_answers_500_or_html(api_schema):
    schema, headers = api_schema
    assert _drive(schema.include(method="POST", path_regex=SAFE_POSTS), headers) >= 3
