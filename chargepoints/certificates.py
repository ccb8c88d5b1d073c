"""Charge point certificates beyond one frame: sending CertificateSigned, asking for renewals.

Both versions' handlers use these after their answer (`Session.after_answer`),
and `manage.py certificates_renew` runs `renewals_request` for cron. What each
version sends is its package's business (`renew-certificate` builders,
CertificateSigned payloads); this module only sends it through the command
path (`commands.acall`), so every message appears in the command log and its
answer is applied by the version's `answers`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from channels.db import database_sync_to_async

from . import pki, selectors
from .models import CommandSource

logger = logging.getLogger("csms.commands")


async def certificate_signed_send(charge_point_id: str, payload: dict) -> None:
    """Send CertificateSigned `payload` (the version's camelCase: certificateChain, 2.0.1 certificateType) to the charge point.

    Run after the Accepted SignCertificate answer is sent (1.6 Whitepaper
    A02.FR.x, 2.0.1 A02.FR.06: the CSMS answers first, then sends the chain).
    A failure (offline, timeout, CALLERROR) is logged; the command log keeps
    it and the certificate stays "issued".
    """
    from . import commands  # late: commands imports the version packages, which import this module's users

    try:
        result = await commands.acall(charge_point_id, "CertificateSigned", payload, source=CommandSource.SYSTEM)
    except commands.CommandError as error:
        logger.warning("%s: CertificateSigned not delivered: %s", charge_point_id, error)
        return
    logger.info("%s: CertificateSigned answered %s", charge_point_id, result.response.get("status"))


async def renewal_request_if_due(charge_point_id: str, version: str) -> None:
    """At a boot: ask the charge point for a new CSR when its certificate is due for renewal (`selectors.certificates_due_for_renewal`)."""
    if not pki.configured():
        return
    if not await database_sync_to_async(selectors.certificate_renewal_due)(charge_point_id=charge_point_id):
        return
    await renewal_request(charge_point_id, version)


async def renewal_request(charge_point_id: str, version: str, *, timeout: float | None = None) -> str:
    """Send the version's `renew-certificate` trigger (2.0.1 TriggerMessage SignChargingStationCertificate, 1.6
    ExtendedTriggerMessage SignChargePointCertificate); returns the answer's status, or the error in words."""
    from . import commands, ocpp

    request = ocpp.dialect(version).OPERATIONS["renew-certificate"](None)
    try:
        result = await commands.acall(charge_point_id, request.action, request.payload, timeout=timeout, source=CommandSource.SYSTEM)
    except commands.CommandError as error:
        logger.warning("%s: certificate renewal not requested: %s", charge_point_id, error)
        return f"not sent: {error}"
    status = str(result.response.get("status"))
    logger.info("%s: certificate renewal requested (%s): %s", charge_point_id, request.action, status)
    return status


@dataclass
class Renewal:
    """One charge point `renewals_request` asked: its id, version, its certificate's end, what came of it."""

    charge_point_id: str
    version: str
    not_after: object
    outcome: str


def renewals_request(*, timeout: float | None = None) -> list[Renewal]:
    """Ask every charge point due for renewal for a new CSR, one after the other (for `manage.py certificates_renew`).

    Offline ones are skipped (they are asked at their next boot). Returns one
    Renewal per charge point due. Synchronous: call it outside an event loop.
    """
    from asgiref.sync import async_to_sync

    renewals = []
    for cp in selectors.certificates_due_for_renewal():
        if not cp.connected:
            renewals.append(Renewal(cp.pk, cp.version, cp.certificate_not_after, "offline: asked at its next boot"))
            continue
        outcome = async_to_sync(renewal_request)(cp.pk, cp.version, timeout=timeout)
        renewals.append(Renewal(cp.pk, cp.version, cp.certificate_not_after, outcome))
    return renewals
