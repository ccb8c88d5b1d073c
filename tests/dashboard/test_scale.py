"""The dashboard at 10,000 charge points: the same number of queries as at 10, and the time it takes (printed, not asserted).

Run with `-s` to see the times: `pytest tests/dashboard/test_scale.py -s`.
"""

from __future__ import annotations

import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from chargepoints.dashboard.rows import live_update
from tests.dashboard.fleet import many_charge_points
from tests.users import user_with_role

pytestmark = pytest.mark.django_db

PATHS = ["/", "/?state=faulted", "/?state=offline&sort=status", "/?state=charging&sort=-last_seen&page=20", "/?q=SN0000&version=1.6"]


def measure(client, path: str) -> tuple[int, float]:
    with CaptureQueriesContext(connection) as queries:
        started = time.perf_counter()
        response = client.get(path)
        elapsed = time.perf_counter() - started
    assert response.status_code == 200
    return len(queries), elapsed


def test_the_dashboard_of_10000_charge_points_costs_the_queries_of_10(client):
    client.force_login(user_with_role("viewer-1", "viewer"))
    many_charge_points(10, prefix="S-")
    small = {path: measure(client, path)[0] for path in PATHS}
    many_charge_points(10_000)
    print(f"\n{'path':45} queries  time (10,000 charge points, {connection.vendor})")
    for path in PATHS:
        queries, elapsed = measure(client, path)
        print(f"{path:45} {queries:7}  {elapsed * 1000:6.0f} ms")
        assert queries == small[path], path

    ids = {f"CP-{n:05d}" for n in range(0, 10_000, 200)}  # a page's worth, scattered
    with CaptureQueriesContext(connection) as queries:
        started = time.perf_counter()
        update = live_update(ids, counts_since_s=time.monotonic())
        elapsed = time.perf_counter() - started
    print(f"{'live update of 50 rows + counts':45} {len(queries):7}  {elapsed * 1000:6.0f} ms")
    assert len(update["rows"]) == 50
    assert len(queries) == 4  # rows, their connectors, counts, energy
