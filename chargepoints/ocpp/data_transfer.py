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

from typing import Callable

VendorHandler = Callable[[str, str, str], tuple[str, "str | None"]]

_vendors: dict[str, VendorHandler] = {}


def register_vendor(vendor_id: str, handler: VendorHandler) -> None:
    """Route DataTransfer requests with `vendor_id` (compared exactly) to `handler`."""
    _vendors[vendor_id] = handler


def unregister_vendor(vendor_id: str) -> None:
    _vendors.pop(vendor_id, None)


def handler_for(vendor_id: str) -> VendorHandler | None:
    return _vendors.get(vendor_id)
