"""How the admin words what became of a command: a charge point's answer, or why there is none."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property

from asgiref.sync import async_to_sync, sync_to_async
from django.contrib import messages
from django.db import connections, transaction

from .. import commands
from ..models import Command, CommandStatus
from ..ocpp import v201

# Answers that mean "done as asked"; any other status (Rejected, Occupied,
# RebootRequired, Scheduled …) deserves the operator's attention.
SUCCESS_STATUSES = {"Accepted", "Unlocked"}

# At most this many commands of one bulk action wait for their answers at once.
# Each waits in a thread holding a database connection of its own, so this
# bounds what one admin request takes from the database's connection limit.
BULK_CONCURRENCY = 16


def answer_summary(action: str, response: dict | None) -> str:
    """A CALLRESULT in a few words: its status, or the gist of answers that carry none (1.6 §6, 2.0.1 B05/B06)."""
    response = response if isinstance(response, dict) else {}
    if "status" in response:
        return str(response["status"])
    if action in ("GetVariables", "SetVariables"):
        results = response.get("getVariableResult" if action == "GetVariables" else "setVariableResult") or []
        statuses = [str(r.get("attributeStatus")) for r in results]
        if action == "SetVariables" and len(statuses) == 1:
            return statuses[0]
        accepted = statuses.count("Accepted")
        noun = "value" if action == "GetVariables" else "change"
        others = len(statuses) - accepted
        return f"{accepted} {noun}{'' if accepted == 1 else 's'} accepted" + (f", {others} not" if others else "")
    if action == "GetConfiguration":
        known, unknown = len(response.get("configurationKey", [])), len(response.get("unknownKey", []))
        return f"{known} key{'' if known == 1 else 's'}" + (f", {unknown} unknown" if unknown else "")
    if action == "GetLocalListVersion":
        return f"list version {response.get('listVersion')}"
    if action == "GetDiagnostics":
        return f"uploading {response['fileName']}" if response.get("fileName") else "no diagnostics to upload"
    return "acknowledged"


def error_summary(error: commands.CommandError) -> str:
    """Why a command got no CALLRESULT, in a few words."""
    if isinstance(error, commands.ChargePointOffline):
        return "offline"
    if isinstance(error, commands.CommandTimeout):
        return "no answer (timed out)"
    if isinstance(error, commands.CallErrorReceived):
        return f"CALLERROR {error.details.get('error_code', '')}".strip()
    if isinstance(error, commands.QueueFull):
        return "busy (command queue full)"
    if isinstance(error, commands.InvalidPayload):
        field = error.details.get("field")
        return f"invalid payload ({field})" if field else "invalid payload"
    if isinstance(error, commands.InvalidResponse):
        return "answer fails the schema"
    if isinstance(error, commands.UnknownChargePoint):
        return "unknown charge point"
    return error.message


def command_answer(command: Command) -> str:
    """What the command log row `command` says the charge point answered, in a few words."""
    if command.status == CommandStatus.ANSWERED:
        return answer_summary(command.action, command.response)
    if command.status == CommandStatus.CALL_ERROR:
        return f"CALLERROR {command.error_code}: {command.error_description}".strip(": ")
    return command.get_status_display()


def pretty_json(value) -> str:
    """`value` as indented JSON for a <pre>, non-ASCII characters kept."""
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False, default=str)


@dataclass
class Outcome:
    """What became of one command: the CALLRESULT payload, or the CommandError that stands in for it."""

    charge_point_id: str
    action: str
    response: dict | None = None
    error: commands.CommandError | None = None
    command_id: int | None = None
    round_trip_ms: int | None = None

    @property
    def answered(self) -> bool:
        return self.error is None

    @property
    def summary(self) -> str:
        """A few words: "Accepted", "offline", "CALLERROR NotSupported" …"""
        return answer_summary(self.action, self.response) if self.answered else error_summary(self.error)

    @property
    def level(self) -> int:
        """The messages framework level: success, warning (answered otherwise) or error (no answer)."""
        if not self.answered:
            return messages.ERROR
        # SetVariables, a 2.0.1 message only, answers a status per variable.
        status = v201.answer_status(self.action, self.response or {})
        return messages.SUCCESS if status is None or status in SUCCESS_STATUSES else messages.WARNING

    @property
    def message(self) -> str:
        """One sentence for the command page."""
        if self.answered:
            return f"{self.charge_point_id} answered {self.action}: {self.summary}."
        if isinstance(self.error, commands.InvalidPayload):
            return f"{self.action} was not sent: the payload fails the OCPP schema — {self.error.message}"
        return f"{self.action} to {self.charge_point_id} failed: {self.error.message}"

    @property
    def response_json(self) -> str:
        return pretty_json(self.response)

    @property
    def payload_json(self) -> str:
        """The payload as sent, from the command log."""
        return pretty_json(self.command.payload) if self.command is not None else ""

    @property
    def error_details_json(self) -> str:
        return pretty_json(self.error.details) if self.error is not None and self.error.details else ""

    @cached_property
    def command(self) -> Command | None:
        """The command log row, when one was written (a payload the schema refused never is)."""
        if self.command_id is None:
            return None
        return Command.objects.filter(pk=self.command_id).first()


def attempt(charge_point_id: str, action: str, send: Callable[[], commands.CommandResult]) -> Outcome:
    """Run `send` (a `commands.call` or an `operations` function) and capture its answer or CommandError.

    `action` names what was attempted; an answered outcome names the OCPP message sent instead.
    """
    try:
        result = send()
    except commands.CommandError as error:
        return Outcome(charge_point_id, action, error=error, command_id=error.command_id)
    return Outcome(
        charge_point_id,
        # The message actually sent: a neutral operation names it only once it knows the version.
        result.action or action,
        response=result.response,
        command_id=result.command_id,
        round_trip_ms=result.round_trip_ms,
    )


def attempt_each(
    charge_point_ids: Iterable[str],
    action: str,
    send: Callable[[str], commands.CommandResult],
    *,
    concurrency: int = BULK_CONCURRENCY,
) -> list[Outcome]:
    """`attempt` `send(charge_point_id)` for every charge point at the same time; the Outcomes in the ids' order.

    `send` is a `commands.call` or an `operations` function bound to one
    charge point. The sends run in up to `concurrency` worker threads, so a
    bulk action over that many charge points takes about as long as its
    slowest answer — at most one OCPP_COMMAND_TIMEOUT when one never answers —
    not the sum of them; an offline one still fails at once. Each worker closes
    its database connections when its send is done.

    One charge point, or a caller inside a transaction (ATOMIC_REQUESTS, an
    `atomic` block), is served one after the other in the calling thread: a
    worker's own connection could not see rows the caller has not committed
    and, on SQLite, could not write while the caller holds the write lock.

    Raises what a `send` raises other than a CommandError (a bug, a database
    error), once every send has finished.
    """
    charge_point_ids = list(charge_point_ids)
    if len(charge_point_ids) <= 1 or transaction.get_connection().in_atomic_block:
        return [attempt(cp_id, action, lambda cp_id=cp_id: send(cp_id)) for cp_id in charge_point_ids]

    def in_worker(charge_point_id: str) -> Outcome:
        try:
            return attempt(charge_point_id, action, lambda: send(charge_point_id))
        finally:
            # The worker's connection is its own (Django's are per thread): left
            # open, it would outlive the pool's thread until CONN_MAX_AGE.
            connections.close_all()

    async def all_at_once() -> list:
        # Through sync_to_async rather than pool.submit: its workers' `commands.call`
        # then runs on this event loop — under ASGI the server's loop, which holds
        # the consumers and which the in-memory channel layer needs (its queues
        # belong to one loop); a bare thread would start a loop of its own.
        worker = sync_to_async(in_worker, thread_sensitive=False, executor=pool)
        return await asyncio.gather(*(worker(cp_id) for cp_id in charge_point_ids), return_exceptions=True)

    pool = ThreadPoolExecutor(max_workers=min(len(charge_point_ids), concurrency), thread_name_prefix="csms-bulk")
    try:
        results = async_to_sync(all_at_once)()
    finally:
        pool.shutdown(wait=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results


def summarise(label: str, outcomes: Iterable[Outcome]) -> tuple[str, int]:
    """One message for a bulk action, e.g. "Reset (soft): CP-1: Accepted; CP-2: offline", and its level.

    The level is success when every charge point did as asked, error when
    none answered, warning otherwise.
    """
    outcomes = list(outcomes)
    text = f"{label}: " + "; ".join(f"{o.charge_point_id}: {o.summary}" for o in outcomes)
    levels = {o.level for o in outcomes}
    if levels == {messages.SUCCESS}:
        return text, messages.SUCCESS
    if levels == {messages.ERROR}:
        return text, messages.ERROR
    return text, messages.WARNING
