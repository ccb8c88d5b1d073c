"""EMQX OCPP gateway topics and envelope (emqx_ocpp.conf), and conversions to and from OCPP-J frames.

Topics (EMQX's defaults; each a setting, README "OCPP over MQTT"):

    upstream CALL           ocpp/cp/${cid}/${action}     per-action overrides (MQTT_TOPIC_UPSTREAM_OVERRIDES)
    upstream CALLRESULT     ocpp/cp/Reply/${cid}         the charge point answers a central-system CALL
    upstream CALLERROR      ocpp/cp/Error/${cid}
    downstream (any)        ocpp/${cid}/${type}/${action}   type: Request (a CALL), Reply, Error;
                                                            the gateway subscribes ocpp/${cid}/+/+

Envelope (a JSON object, one per MQTT message):

    {"MessageTypeId": 2, "UniqueId": "…", "Action": "…", "Payload": {…}}
    {"MessageTypeId": 3, "UniqueId": "…", "Action": "…", "Payload": {…}}   Action when known
    {"MessageTypeId": 4, "UniqueId": "…", "ErrorCode": "…", "ErrorDescription": "…", "ErrorDetails": {…}}

The OCPP version: EMQX speaks 1.6 only and says nothing about it. Ours rides
as the MQTT v5 user property `ocpp-version` ("1.6" or "2.0.1") on every
message, both ways; a message without it is 1.6 (EMQX). The topics are the
same for both versions.

Identities that hold an MQTT wildcard (`+`, `#`) or `/` cannot be a topic
level: `TopicError` (OCPP identifiers allow `+`; EMQX has the same limit).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

VERSION_PROPERTY = "ocpp-version"
# On what the bridge mirrors (chargepoints/mqtt/bridge.py): not a command to act on, nor a CALL for a back end.
ORIGIN_PROPERTY = "csms-origin"
DEFAULT_VERSION = "1.6"
# EMQX's names of the downstream topic's type level.
DOWNSTREAM_TYPES = {2: "Request", 3: "Reply", 4: "Error"}
_VARIABLE = re.compile(r"\$\{(cid|action|type)\}")


class EnvelopeError(ValueError):
    """An MQTT payload that is no EMQX envelope; `unique_id` is its UniqueId when one could be read (a string), else None."""

    def __init__(self, reason: str, *, unique_id: str | None = None):
        super().__init__(reason)
        self.reason = reason
        self.unique_id = unique_id


class TopicError(ValueError):
    """A charge point identity that cannot be an MQTT topic level (it holds `+`, `#` or `/`)."""


def _loads(data: bytes | str):
    try:
        return json.loads(data)
    except (ValueError, RecursionError):
        return None


def envelope_to_frame(data: bytes | str, *, max_bytes: int | None = None) -> str:
    """The OCPP-J frame (JSON text) an EMQX envelope carries, for `rpc.parse_frame` to judge.

    Only the envelope's shape is checked here; its fields are put where the
    frame has them, as they are, so that a wrong field becomes the CALLERROR
    OCPP-J prescribes for the same fault over WebSocket (OCPP-J 1.6 §4.2.3).
    Raises EnvelopeError when `data` is larger than `max_bytes`, not JSON, not
    an object, or has no MessageTypeId 2, 3 or 4 (with `unique_id` set when
    the UniqueId is a readable string).
    """
    if max_bytes is not None and len(data) > max_bytes:
        # Read only the start for the UniqueId: a huge payload is not parsed.
        match = re.search(rb'"UniqueId"\s*:\s*"([^"\\]{1,36})"', data[:4096] if isinstance(data, bytes) else data[:4096].encode())
        raise EnvelopeError(f"envelope of {len(data)} bytes exceeds {max_bytes}", unique_id=match and match.group(1).decode())
    envelope = _loads(data)
    if not isinstance(envelope, dict):
        raise EnvelopeError("not a JSON object")
    unique_id = envelope.get("UniqueId")
    readable_id = unique_id if isinstance(unique_id, str) else None
    message_type = envelope.get("MessageTypeId")
    if message_type == 2:
        frame = [2, unique_id, envelope.get("Action"), envelope.get("Payload")]
    elif message_type == 3:
        frame = [3, unique_id, envelope.get("Payload")]
    elif message_type == 4:
        frame = [4, unique_id, envelope.get("ErrorCode"), envelope.get("ErrorDescription"), envelope.get("ErrorDetails") or {}]
    else:
        raise EnvelopeError(f"MessageTypeId {message_type!r} is not 2, 3 or 4", unique_id=readable_id)
    return json.dumps(frame, separators=(",", ":"), ensure_ascii=False)


def frame_to_envelope(frame: str, *, action: str | None = None) -> dict:
    """The EMQX envelope (a dict, JSON-ready) of an OCPP-J frame.

    `action` names the CALL a CALLRESULT or CALLERROR answers, when known; it
    becomes the envelope's Action (EMQX's downstream replies carry one).
    Raises EnvelopeError for text that is not a frame [2|3|4, UniqueId, …].
    """
    message = _loads(frame)
    if not isinstance(message, list) or len(message) < 2 or message[0] not in (2, 3, 4) or type(message[0]) is not int:
        raise EnvelopeError("not an OCPP-J frame")
    message_type, unique_id = message[0], message[1]
    envelope: dict = {"MessageTypeId": message_type, "UniqueId": unique_id}
    if message_type == 2 and len(message) == 4:
        envelope["Action"] = message[2]
        envelope["Payload"] = message[3]
    elif message_type == 3 and len(message) == 3:
        if action:
            envelope["Action"] = action
        envelope["Payload"] = message[2]
    elif message_type == 4 and len(message) == 5:
        if action:
            envelope["Action"] = action
        envelope["ErrorCode"] = message[2]
        envelope["ErrorDescription"] = message[3]
        envelope["ErrorDetails"] = message[4]
    else:
        raise EnvelopeError(f"OCPP-J frame of type {message_type} with {len(message)} elements")
    return envelope


def dumps(envelope: dict) -> bytes:
    """An envelope as the MQTT payload (compact UTF-8 JSON)."""
    return json.dumps(envelope, separators=(",", ":"), ensure_ascii=False).encode()


def _check_level(value: str) -> str:
    if not value or any(c in value for c in "+#/"):
        raise TopicError(f"{value!r} cannot be an MQTT topic level")
    return value


def _fill(template: str, **values: str) -> str:
    return _VARIABLE.sub(lambda m: values[m.group(1)], template)


def _as_filter(template: str) -> str:
    return _VARIABLE.sub("+", template)


def _as_regex(template: str) -> re.Pattern:
    parts = _VARIABLE.split(template)
    # re.split with a group alternates literal text and variable names.
    pattern = "".join(re.escape(part) if i % 2 == 0 else f"(?P<{part}>[^/]+)" for i, part in enumerate(parts))
    return re.compile(f"^{pattern}$")


@dataclass(frozen=True)
class Topics:
    """The topic templates (`${cid}`, `${action}`, `${type}`); EMQX's defaults.

    `upstream_overrides`: {action: template} for actions published elsewhere
    (EMQX's `ocpp.upstream.topic.<Action>`). Build from settings with `from_settings()`.
    """

    upstream: str = "ocpp/cp/${cid}/${action}"
    upstream_overrides: Mapping[str, str] = field(default_factory=dict)
    reply: str = "ocpp/cp/Reply/${cid}"
    error: str = "ocpp/cp/Error/${cid}"
    downstream: str = "ocpp/${cid}/${type}/${action}"

    @classmethod
    def from_settings(cls) -> Topics:
        """The templates of MQTT_TOPIC_* (csms/settings.py)."""
        from django.conf import settings

        return cls(
            upstream=settings.MQTT_TOPIC_UPSTREAM,
            upstream_overrides=dict(settings.MQTT_TOPIC_UPSTREAM_OVERRIDES),
            reply=settings.MQTT_TOPIC_REPLY,
            error=settings.MQTT_TOPIC_ERROR,
            downstream=settings.MQTT_TOPIC_DOWNSTREAM,
        )

    def upstream_topic(self, charge_point_id: str, envelope: dict) -> str:
        """Where the gateway publishes what the charge point sent: a CALL by its action, answers to the reply/error topics.

        Raises TopicError for an identity or action that cannot be a topic level.
        """
        cid = _check_level(charge_point_id)
        message_type = envelope["MessageTypeId"]
        if message_type == 3:
            return _fill(self.reply, cid=cid)
        if message_type == 4:
            return _fill(self.error, cid=cid)
        action = _check_level(str(envelope.get("Action") or ""))
        return _fill(self.upstream_overrides.get(action, self.upstream), cid=cid, action=action)

    def downstream_topic(self, charge_point_id: str, envelope: dict) -> str:
        """Where the service publishes to the charge point: ocpp/<cid>/Request|Reply|Error/<action> by default.

        An answer without Action gets "Unknown" as its last level (EMQX routes by cid only).
        """
        cid = _check_level(charge_point_id)
        action = str(envelope.get("Action") or "Unknown")
        return _fill(self.downstream, cid=cid, type=DOWNSTREAM_TYPES[envelope["MessageTypeId"]], action=_check_level(action))

    def upstream_filters(self) -> list[str]:
        """The subscription filters of every upstream topic (CALLs, overrides, replies, errors), without duplicates."""
        templates = [self.upstream, *self.upstream_overrides.values(), self.reply, self.error]
        return list(dict.fromkeys(_as_filter(t) for t in templates))

    def call_filters(self) -> list[str]:
        """The subscription filters of upstream CALLs only (default and overrides)."""
        return list(dict.fromkeys(_as_filter(t) for t in [self.upstream, *self.upstream_overrides.values()]))

    def answer_filters(self) -> list[str]:
        """The subscription filters of the charge points' answers (reply and error topics)."""
        return list(dict.fromkeys([_as_filter(self.reply), _as_filter(self.error)]))

    def downstream_filter(self, charge_point_id: str) -> str:
        """What a gateway subscribes for one charge point: ocpp/<cid>/+/+ by default (EMQX's `ocpp.dnstream.topic`)."""
        return _as_filter(self.downstream.replace("${cid}", _check_level(charge_point_id)))

    def downstream_call_filter(self) -> str:
        """What matches every downstream CALL of every charge point: ocpp/+/Request/+ by default."""
        return _as_filter(self.downstream.replace("${type}", DOWNSTREAM_TYPES[2]))

    def upstream_charge_point(self, topic: str, message_type: int) -> str | None:
        """The identity in an upstream `topic` carrying a message of `message_type`, or None when no template matches.

        The envelope's type picks the templates: `ocpp/cp/Reply/X` is the reply
        of X when the envelope is a CALLRESULT, and X's … is never confused
        with a CALL from a charge point named "Reply".
        """
        if message_type == 3:
            templates = [self.reply]
        elif message_type == 4:
            templates = [self.error]
        else:
            templates = [*self.upstream_overrides.values(), self.upstream]
        for template in templates:
            match = _as_regex(template).match(topic)
            if match:
                return match.group("cid")
        return None

    def downstream_charge_point(self, topic: str) -> str | None:
        """The identity in a downstream `topic`, or None when it does not match the downstream template."""
        match = _as_regex(self.downstream).match(topic)
        return match.group("cid") if match else None


def user_property(properties, name: str) -> str | None:
    """The value of MQTT v5 user property `name` in a message's `properties`, or None."""
    for key, value in getattr(properties, "UserProperty", None) or []:
        if key == name:
            return value
    return None


def version_of(properties) -> str:
    """The OCPP version a message's MQTT v5 properties carry (`ocpp-version`); "1.6" without one (EMQX)."""
    return user_property(properties, VERSION_PROPERTY) or DEFAULT_VERSION


def properties_for(version: str, *, origin: str | None = None):
    """MQTT v5 PUBLISH properties carrying `version` (and `origin`, ORIGIN_PROPERTY) (paho's Properties)."""
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    properties = Properties(PacketTypes.PUBLISH)
    properties.UserProperty = [(VERSION_PROPERTY, version)] + ([(ORIGIN_PROPERTY, origin)] if origin else [])
    return properties
