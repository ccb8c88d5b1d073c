"""The OCPP protocol: framing and CALLERRORs (`rpc`), and one package per version (its dialect).

`chargepoints.ocpp.v16` and `chargepoints.ocpp.v201` each hold all that
version says differently:

- `handlers`: one coroutine per message a charge point sends (`HANDLERS`);
- `operations`: how each version-neutral operation becomes its CALL (`OPERATIONS`);
- `answers`: what follows from the answer to each command (`ANSWERS`);

plus the package's constants (VERSION, SUBPROTOCOL, ACTIONS: the messages a
central system may send in that version). `dialect(version)` picks one.
"""

from __future__ import annotations

from importlib import import_module
from types import ModuleType

# Subprotocol name → version, newest first (a connection speaks the newest one it offers).
SUBPROTOCOLS = {"ocpp2.0.1": "2.0.1", "ocpp1.6": "1.6"}
VERSIONS = tuple(SUBPROTOCOLS.values())
_PACKAGES = {"1.6": "chargepoints.ocpp.v16", "2.0.1": "chargepoints.ocpp.v201"}


def dialect(version: str | None) -> ModuleType:
    """The package of OCPP `version` ("1.6" or "2.0.1"; None or "" means 1.6). KeyError for others."""
    return import_module(_PACKAGES[version or "1.6"])


def answer_status(version: str, action: str, response: dict | None) -> str | None:
    """The status word of an answer to `action` in `version` (Accepted, Rejected …), None for reads without one."""
    return dialect(version).answer_status(action, response if isinstance(response, dict) else {})
