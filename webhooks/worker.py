"""The webhook sender, run by `manage.py webhooks_worker` (never inside the OCPP socket process).

Loop: claim due deliveries (`services.deliveries_claim`), POST each event as
JSON, signed, and record the answer: 2xx delivered, anything else a failed try
retried with exponential backoff (a redirect included: the body is not
re-sent to another address). Every PRUNE_EVERY seconds it deletes events
older than WEBHOOK_RETENTION_DAYS whose deliveries are all finished. A delivery is marked delivered only after a
2xx answer, so a worker killed at any point redelivers, after its claim's
lease, whatever it had not recorded: at least once; receivers dedupe on the
event id.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from django.conf import settings
from django.db import close_old_connections

from . import services
from .models import Delivery
from .signing import signature

logger = logging.getLogger("csms.webhooks")

PRUNE_EVERY = 600.0  # seconds between two prunes of the outbox by a running worker


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """Answer a 3xx as it is: urllib would re-send a POST as a GET without its body and take the 200 for a delivery."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_opener = urllib.request.build_opener(_NoRedirects)


def body_of(delivery: Delivery) -> bytes:
    """The JSON body of a delivery: {"id", "type", "created_at", "data"}."""
    event = delivery.event
    return json.dumps(
        {"id": str(event.id), "type": event.type, "created_at": event.created_at.isoformat(), "data": event.data},
        separators=(",", ":"),
        default=str,
    ).encode()


def send(delivery: Delivery, *, timeout: float) -> tuple[int | None, str]:
    """POST `delivery` to its subscription's URL; returns (HTTP status or None, error text; "" for a 2xx)."""
    body = body_of(delivery)
    timestamp = int(time.time())
    request = urllib.request.Request(
        delivery.subscription.url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": "csms-webhooks/1",
            "X-CSMS-Event": delivery.event.type,
            "X-CSMS-Event-Id": str(delivery.event.id),
            "X-CSMS-Timestamp": str(timestamp),
            "X-CSMS-Signature": signature(secret=delivery.subscription.secret, timestamp=timestamp, body=body),
        },
    )
    try:
        with _opener.open(request, timeout=timeout) as response:  # noqa: S310 - operators choose the URL
            return response.status, ""
    except urllib.error.HTTPError as exc:
        return exc.code, f"HTTP {exc.code}"
    except (OSError, ValueError) as exc:
        return None, f"{type(exc).__name__}: {exc}"


def _deliver(delivery: Delivery, timeout: float) -> bool:
    status, error = send(delivery, timeout=timeout)
    try:
        if status is not None and 200 <= status < 300:
            services.delivery_succeeded(delivery_id=delivery.pk, status_code=status)
            return True
        failed = services.delivery_failed(delivery_id=delivery.pk, status_code=status, error=error)
        logger.warning("webhook %s to %s failed (%s), try %s", delivery.event_id, delivery.subscription.url, error, failed.attempts)
        return False
    finally:
        close_old_connections()


def run_once(*, batch: int = 50, concurrency: int = 4) -> int:
    """Claim and send one batch; returns how many deliveries were tried."""
    # Long enough to send the whole batch at worst; then a dead worker's claims are due again.
    lease_s = -(-batch // concurrency) * settings.WEBHOOK_TIMEOUT + 5
    claimed = services.deliveries_claim(limit=batch, lease_s=lease_s)
    if not claimed:
        return 0
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(lambda d: _deliver(d, settings.WEBHOOK_TIMEOUT), claimed))
    return len(claimed)


def prune() -> int:
    """Delete events older than WEBHOOK_RETENTION_DAYS with no pending delivery (services.deliveries_prune); returns how many."""
    deleted = services.deliveries_prune(older_than=timedelta(days=settings.WEBHOOK_RETENTION_DAYS))
    if deleted:
        logger.info("webhook outbox: %s events older than %s days deleted", deleted, settings.WEBHOOK_RETENTION_DAYS)
    return deleted


def run(*, stop: threading.Event, poll_s: float = 1.0, batch: int = 50, concurrency: int = 4) -> None:
    """Send deliveries until `stop` is set, polling the outbox every `poll_s` seconds when idle; prune it every PRUNE_EVERY s."""
    pruned_at = float("-inf")
    while not stop.is_set():
        try:
            if time.monotonic() - pruned_at >= PRUNE_EVERY:
                prune()
                pruned_at = time.monotonic()
            tried = run_once(batch=batch, concurrency=concurrency)
        except Exception:  # a database outage: keep the worker alive, try again
            logger.exception("webhook worker pass failed")
            close_old_connections()
            tried = 0
        if not tried:
            stop.wait(poll_s)
