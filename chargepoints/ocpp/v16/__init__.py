"""OCPP 1.6 (edition 2, JSON, with the Security Whitepaper's extension): everything this version says differently.

`handlers` answers what charge points send (§4), `operations` builds the
CALL of each version-neutral operation, `answers` applies what follows from
the answers to commands (§5).
"""

from . import redaction
from .answers import ANSWERS
from .handlers import HANDLERS, INTEGER_FIELDS
from .operations import OPERATIONS, answer_status

VERSION = "1.6"
SUBPROTOCOL = "ocpp1.6"
# 1.6 serves a charge point whatever its boot was answered (§4.2 leaves it to the charge point).
REGISTRATION_GATED = False
ALLOWED_BEFORE_ACCEPTED = frozenset()
# Central-system-initiated messages (§5), by feature profile.
ACTIONS = (
    # Core
    "ChangeAvailability",
    "ChangeConfiguration",
    "ClearCache",
    "DataTransfer",
    "GetConfiguration",
    "RemoteStartTransaction",
    "RemoteStopTransaction",
    "Reset",
    "UnlockConnector",
    # Firmware Management
    "GetDiagnostics",
    "UpdateFirmware",
    # Local Auth List Management
    "GetLocalListVersion",
    "SendLocalList",
    # Reservation
    "CancelReservation",
    "ReserveNow",
    # Smart Charging
    "ClearChargingProfile",
    "GetCompositeSchedule",
    "SetChargingProfile",
    # Remote Trigger
    "TriggerMessage",
    # Security extension (1.6 Security Whitepaper edition 3): certificates, secure firmware update, logs.
    "CertificateSigned",
    "DeleteCertificate",
    "ExtendedTriggerMessage",
    "GetInstalledCertificateIds",
    "GetLog",
    "InstallCertificate",
    "SignedUpdateFirmware",
)

__all__ = [
    "redaction",
    "ACTIONS",
    "ALLOWED_BEFORE_ACCEPTED",
    "REGISTRATION_GATED",
    "ANSWERS",
    "HANDLERS",
    "INTEGER_FIELDS",
    "OPERATIONS",
    "SUBPROTOCOL",
    "VERSION",
    "answer_status",
]
