"""What a handler knows about the connection it serves."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field


@dataclass
class Session:
    """One charge point connection.

    `accepted`: the charge point's registration is Accepted (its last boot was
    answered Accepted); OCPP 2.0.1 B02/B03 refuse other messages until then.
    `triggered`: actions the CSMS asked for with TriggerMessage, which a
    station may send even before it is accepted.
    `follow_ups`: work a handler asks for once its answer is sent
    (`after_answer`), such as the CertificateSigned that follows an Accepted
    SignCertificate.
    """

    charge_point_id: str
    session_id: str
    version: str = "1.6"
    accepted: bool = True
    triggered: set[str] = field(default_factory=set)
    follow_ups: list[Callable[[], Coroutine]] = field(default_factory=list)

    def after_answer(self, make_coroutine: Callable[[], Coroutine]) -> None:
        """Run `make_coroutine()` as a task of the connection once the CALLRESULT of the message being handled is sent.

        The task may send commands to this very charge point (`commands.acall`):
        it runs beside the consumer, never inside its handler (DESIGN.md trap
        1). Dropped when the handler fails; cancelled when the connection closes.
        """
        self.follow_ups.append(make_coroutine)
