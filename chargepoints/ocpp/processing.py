"""Answering a charge point's CALL, whatever carries it (a WebSocket, an MQTT broker).

`CallProcessor.answer(call)` runs the steps of docs/architecture.md "A frame
in" after parsing: the version's handler (NotImplemented / NotSupported when
there is none), the schema, the 2.0.1 registration gate (B02/B03), the
database's limits (`ocpp.limits`), the handler itself within
OCPP_HANDLER_TIMEOUT, and the check of our own answer. It returns the frame
to send; the transport sends it and then starts what the handler asked for
after its answer (`Session.follow_ups`).

Used by the WebSocket consumer (`chargepoints/consumers.py`) and the MQTT
back end (`chargepoints/mqtt/backend.py`), so both store the same rows.
"""

from __future__ import annotations

import asyncio
import logging

from channels.db import database_sync_to_async
from django.conf import settings
from ocpp.charge_point import remove_nones

from .. import dbprogress, ocpp, services
from . import limits, rpc
from .session import Session

logger = logging.getLogger("csms.ocpp")


class CallProcessor:
    """Answers the CALLs of one charge point session (`session`, whose `accepted`, `triggered` and `follow_ups` it reads and writes)."""

    def __init__(self, session: Session):
        self.session = session
        # Processing of CALLs answered InternalError for taking too long, still running (OCPP_HANDLER_TIMEOUT).
        self.late_work: set[asyncio.Future] = set()

    async def answer(self, call: rpc.Call) -> tuple[str, bool]:
        """(the CALLRESULT or CALLERROR frame answering `call`, whether it is a CALLRESULT).

        Never raises for what the charge point sent or for a failing handler:
        each becomes the CALLERROR that fits (OCPP-J 1.6 §4.2.3), a handler's
        exception InternalError. On a CALLRESULT, `session.follow_ups` holds
        what the handler asked to run once it is sent.
        """
        version = self.session.version
        handler = ocpp.dialect(version).HANDLERS.get(call.action)
        try:
            if handler is None:
                if call.action in rpc.known_actions(version):
                    raise rpc.RpcError(
                        rpc.ErrorKind.NOT_SUPPORTED,
                        f"{call.action} is not an action a charge point sends to a central system",
                        unique_id=call.unique_id,
                    )
                raise rpc.RpcError(rpc.ErrorKind.NOT_IMPLEMENTED, f"Unknown action {call.action!r}", unique_id=call.unique_id)
            rpc.validate_payload(version, call.action, call.payload, unique_id=call.unique_id)
            self.check_registration(call)
            payload = await self.storable(call)
            self.session.follow_ups.clear()
            work = asyncio.ensure_future(handler(self.session, payload))
            timeout = settings.OCPP_HANDLER_TIMEOUT
            done, _ = await asyncio.wait({work}, timeout=timeout)
            while not done and not dbprogress.stalled(timeout):
                # Queued behind others (a boot storm) while the database answers: wait on.
                done, _ = await asyncio.wait({work}, timeout=timeout / 4)
            if not done:
                # The database answered nothing for OCPP_HANDLER_TIMEOUT (hung).
                # The CALL is answered InternalError, which a charge point may
                # retry. The work is not cancelled (a thread stuck in a query
                # cannot be): if the database finishes it later, it is kept.
                self.late_work.add(work)
                work.add_done_callback(self._late_work_done)
                raise rpc.RpcError(
                    rpc.ErrorKind.INTERNAL,
                    f"{call.action} could not be processed within {settings.OCPP_HANDLER_TIMEOUT:g} s; try again later",
                    unique_id=call.unique_id,
                )
            result = work.result()
            payload = remove_nones(result)
            if settings.OCPP_VALIDATE_ANSWERS:  # tests and DEBUG: not on the hot path in production
                try:
                    rpc.validate_payload(version, call.action, payload, response=True, unique_id=call.unique_id)
                except rpc.RpcError as error:
                    # Our own answer is wrong: that is no fault of the charge point's.
                    raise RuntimeError(f"invalid {call.action} response {payload}: {error.description}") from error
        except rpc.RpcError as error:
            logger.warning("%s: %s %s: %s", self.session.charge_point_id, call.action, error.kind.value, error.description)
            return error.frame(version), False
        except Exception:
            logger.exception("%s: %s handler failed", self.session.charge_point_id, call.action)
            error = rpc.RpcError(rpc.ErrorKind.INTERNAL, f"{call.action} could not be processed", unique_id=call.unique_id)
            return error.frame(version), False
        return rpc.call_result_frame(call.unique_id, payload), True

    def _late_work_done(self, work: asyncio.Future) -> None:
        """Log how a CALL's processing ended after it was answered InternalError for taking too long."""
        self.late_work.discard(work)
        cp_id = self.session.charge_point_id
        if work.cancelled():
            logger.warning("%s: late processing of a CALL was cancelled", cp_id)
        elif work.exception() is not None:
            logger.error("%s: late processing of a CALL failed", cp_id, exc_info=work.exception())
        else:
            logger.warning("%s: a CALL answered InternalError for taking too long was processed after all", cp_id)

    async def storable(self, call: rpc.Call) -> dict:
        """The payload as the database can hold it (`ocpp.limits`): RpcError for an integer no column holds.

        NUL and lone surrogates become U+FFFD; the payload as sent is kept,
        escaped, as a StationMessage so that nothing the charge point said is lost.
        """
        limits.check_integers(
            ocpp.dialect(self.session.version).INTEGER_FIELDS.get(call.action, {}), call.payload, unique_id=call.unique_id
        )
        if not limits.has_unstorable(call.payload):
            return call.payload
        logger.warning("%s: %s carries characters the database cannot store; they become U+FFFD", self.session.charge_point_id, call.action)
        await database_sync_to_async(services.station_message_create)(
            charge_point_id=self.session.charge_point_id, action=call.action, payload=limits.escaped(call.payload)
        )
        return limits.storable(call.payload)

    def check_registration(self, call: rpc.Call) -> None:
        """OCPP 2.0.1 B02/B03: until a boot is Accepted, only BootNotification and triggered messages pass (RpcError SECURITY)."""
        session = self.session
        if session.accepted or call.action in ocpp.dialect(session.version).ALLOWED_BEFORE_ACCEPTED:
            return
        if call.action in session.triggered:
            session.triggered.discard(call.action)
            return
        raise rpc.RpcError(
            rpc.ErrorKind.SECURITY,
            f"{call.action} refused: the station's registration is not Accepted (send BootNotification)",
            unique_id=call.unique_id,
        )
