"""Vendor handlers for DataTransfer requests from charge points (OCPP 1.6 §4.3).

A DataTransfer whose vendorId has no registered handler is stored and answered
`UnknownVendorId`, as the spec says. To handle a vendor's messages, register a
function in an app's `ready()`:

    from chargepoints.ocpp.data_transfer import register_vendor

    def on_acme(charge_point_id: str, message_id: str, data: str) -> tuple[str, str | None]:
        return "Accepted", '{"ok": true}'

    register_vendor("com.acme", on_acme)

The function runs in the database thread (it may use the ORM) and returns the
DataTransferStatus ("Accepted", "Rejected", "UnknownMessageId") and optional
response data. An exception it raises is answered with an InternalError.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from django.db import transaction

VendorHandler = Callable[[str, str, str], tuple[str, "str | None"]]

_vendors: dict[str, VendorHandler] = {}


def register_vendor(vendor_id: str, handler: VendorHandler) -> None:
    """Route DataTransfer requests with `vendor_id` (compared exactly) to `handler`."""
    _vendors[vendor_id] = handler


def unregister_vendor(vendor_id: str) -> None:
    _vendors.pop(vendor_id, None)


def handler_for(vendor_id: str) -> VendorHandler | None:
    return _vendors.get(vendor_id)


def receive(charge_point_id: str, payload: dict, *, unknown_vendor_status: str = "UnknownVendorId") -> tuple[str, str | None]:
    """Handle an incoming DataTransfer request (1.6 §4.3, 2.0.1 P02) and store it; returns (status, data).

    `payload` is the request, camelCase: vendorId, messageId?, data? (any JSON
    in 2.0.1; stored as text). Runs in the database thread, in one transaction
    with the vendor handler.
    """
    from chargepoints import services

    vendor_id, message_id = payload["vendorId"], payload.get("messageId", "")
    raw = payload.get("data")
    data = raw if isinstance(raw, str) or raw is None else json.dumps(raw)
    handler = handler_for(vendor_id)
    with transaction.atomic():
        if handler is None:
            status, response = unknown_vendor_status, None
        else:
            status, response = handler(charge_point_id, message_id, data or "")
        services.data_transfer_create(
            charge_point_id=charge_point_id,
            vendor_id=vendor_id,
            message_id=message_id,
            data=data or "",
            status=status,
            response_data=response or "",
        )
    return status, response
