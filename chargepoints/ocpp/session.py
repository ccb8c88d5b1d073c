"""What a handler knows about the connection it serves."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Session:
    """One charge point connection.

    `accepted`: the charge point's registration is Accepted (its last boot was
    answered Accepted); OCPP 2.0.1 B02/B03 refuse other messages until then.
    `triggered`: actions the CSMS asked for with TriggerMessage, which a
    station may send even before it is accepted.
    """

    charge_point_id: str
    session_id: str
    version: str = "1.6"
    accepted: bool = True
    triggered: set[str] = field(default_factory=set)
