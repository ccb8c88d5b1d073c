"""OCPP 2.0.1 (JSON): everything this version says differently.

`handlers` answers what stations send, `operations` builds the CALL of each
version-neutral operation, `answers` applies what follows from the answers
to commands. Use-case ids (B01, F03 …) refer to OCPP 2.0.1 Part 2.
"""

from . import redaction
from .answers import ANSWERS
from .handlers import ALLOWED_BEFORE_ACCEPTED, HANDLERS, INTEGER_FIELDS
from .operations import OPERATIONS, answer_status

VERSION = "2.0.1"
SUBPROTOCOL = "ocpp2.0.1"
# B02/B03: until a boot was Accepted, only ALLOWED_BEFORE_ACCEPTED and triggered messages are served.
REGISTRATION_GATED = True
# CSMS-initiated messages (Part 2), by functional block.
ACTIONS = (
    "CancelReservation",
    "CertificateSigned",
    "ChangeAvailability",
    "ClearCache",
    "ClearChargingProfile",
    "ClearDisplayMessage",
    "ClearVariableMonitoring",
    "CostUpdated",
    "CustomerInformation",
    "DataTransfer",
    "DeleteCertificate",
    "GetBaseReport",
    "GetChargingProfiles",
    "GetCompositeSchedule",
    "GetDisplayMessages",
    "GetInstalledCertificateIds",
    "GetLocalListVersion",
    "GetLog",
    "GetMonitoringReport",
    "GetReport",
    "GetTransactionStatus",
    "GetVariables",
    "InstallCertificate",
    "PublishFirmware",
    "RequestStartTransaction",
    "RequestStopTransaction",
    "ReserveNow",
    "Reset",
    "SendLocalList",
    "SetChargingProfile",
    "SetDisplayMessage",
    "SetMonitoringBase",
    "SetMonitoringLevel",
    "SetNetworkProfile",
    "SetVariableMonitoring",
    "SetVariables",
    "TriggerMessage",
    "UnlockConnector",
    "UnpublishFirmware",
    "UpdateFirmware",
)
# TriggerMessage requestedMessage → the message the station then sends, where they differ (F06).
TRIGGERED_ACTIONS = {
    "SignChargingStationCertificate": "SignCertificate",
    "SignV2GCertificate": "SignCertificate",
    "SignCombinedCertificate": "SignCertificate",
}

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
    "TRIGGERED_ACTIONS",
    "VERSION",
    "answer_status",
]
