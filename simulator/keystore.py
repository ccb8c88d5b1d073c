"""Configuration of a simulated charge point: 1.6 configuration keys and the 2.0.1 device model over them.

One `KeyStore` per charge point holds every setting as text, under the OCPP
1.6 key name where the two versions share a meaning (HeartbeatInterval,
MeterValueSampleInterval …) and as "Component.Variable" otherwise. 1.6
exposes its keys through Get/ChangeConfiguration (§9.1); 2.0.1 exposes
`DEVICE_MODEL` variables, each mapped onto a key, through Get/SetVariables and
GetBaseReport/GetReport (B07, B08). Behaviour reads the shared names, so a
SetVariables on OCPPCommCtrlr.HeartbeatInterval changes the heartbeat like a
ChangeConfiguration of HeartbeatInterval does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

MEASURANDS = ("Energy.Active.Import.Register", "Power.Active.Import", "Current.Import", "Voltage", "SoC")
KNOWN_MEASURANDS = set(MEASURANDS) | {
    "Current.Offered",
    "Power.Offered",
    "Energy.Active.Export.Register",
    "Frequency",
    "Temperature",
}


@dataclass
class ConfigKey:
    """One setting: text `value`, its kind ("int", "num", "bool", "csl", "str"), whether it is read-only.

    `reboot_required`: a change is answered RebootRequired and takes effect
    after the next boot. `getter` computes read-only values (e.g. the local
    list's size). `minimum` bounds integers; `members` lists what a "csl"
    (comma-separated list) may contain.
    """

    name: str
    value: str
    kind: str = "str"
    readonly: bool = False
    reboot_required: bool = False
    minimum: int | None = None
    members: frozenset | None = None
    getter: Callable[[], str] | None = None
    unit: str | None = None
    # Write-only (a secret such as 1.6 AuthorizationKey, 2.0.1 BasicAuthPassword): set through
    # Change/SetVariables, used by the station, never reported to anyone. `check` validates text.
    writeonly: bool = False
    check: Callable[[str], bool] | None = None

    def current(self) -> str:
        return self.getter() if self.getter is not None else self.value

    def accepts(self, value: str) -> bool:
        """Whether `value` is valid text for this key's kind (and its own `check`)."""
        if self.check is not None and not self.check(value):
            return False
        if self.kind == "int":
            try:
                number = int(value)
            except ValueError:
                return False
            return self.minimum is None or number >= self.minimum
        if self.kind == "num":
            try:
                return float(value) >= 0
            except ValueError:
                return False
        if self.kind == "bool":
            return value.lower() in ("true", "false")
        if self.kind == "csl" and self.members is not None:
            items = [item.strip() for item in value.split(",") if item.strip()]
            return all(item in self.members for item in items)
        return True


class KeyStore:
    """A charge point's settings by name; `set` validates, `listeners` hear every accepted change."""

    def __init__(self, keys: Iterable[ConfigKey]):
        self.keys: dict[str, ConfigKey] = {key.name: key for key in keys}
        self.listeners: list[Callable[[str, str], None]] = []
        # Changes answered RebootRequired, applied at the next boot.
        self.after_reboot: dict[str, str] = {}

    def __contains__(self, name: str) -> bool:
        return name in self.keys

    def get(self, name: str, default: str = "") -> str:
        key = self.keys.get(name)
        return key.current() if key is not None else default

    def get_int(self, name: str, default: int = 0) -> int:
        try:
            return int(self.get(name, str(default)))
        except ValueError:
            return default

    def get_float(self, name: str, default: float = 0.0) -> float:
        try:
            return float(self.get(name, str(default)))
        except ValueError:
            return default

    def get_bool(self, name: str, default: bool = False) -> bool:
        value = self.get(name, "")
        return default if value == "" else value.lower() == "true"

    def get_list(self, name: str) -> list[str]:
        return [item.strip() for item in self.get(name).split(",") if item.strip()]

    def set(self, name: str, value: str, *, force: bool = False) -> str:
        """Change a setting as ChangeConfiguration (1.6 §5.3) would; returns the ConfigurationStatus.

        "Accepted", "RebootRequired", "Rejected" (read-only or invalid) or
        "NotSupported" (unknown key). `force` skips the read-only check (the
        charge point's own changes).
        """
        key = self.keys.get(name)
        if key is None:
            return "NotSupported"
        if (key.readonly and not force) or not key.accepts(value):
            return "Rejected"
        if key.kind == "bool":
            value = value.lower()
        if key.reboot_required and not force:
            self.after_reboot[name] = value
            return "RebootRequired"
        key.value = value
        for listener in self.listeners:
            listener(name, value)
        return "Accepted"

    def shown(self, name: str, value: str) -> str:
        """`value` as a log line may show it: "********" for a write-only key's secret."""
        key = self.keys.get(name)
        return "********" if key is not None and key.writeonly else value

    def key_value_16(self, name: str) -> dict:
        """The 1.6 GetConfiguration KeyValue of a known key; a write-only key comes without its value."""
        key = self.keys[name]
        if key.writeonly:
            return {"key": name, "readonly": False}
        return {"key": name, "readonly": key.readonly, "value": key.current()[:500]}

    def reboot(self) -> None:
        """Apply the changes that waited for a reboot."""
        pending, self.after_reboot = self.after_reboot, {}
        for name, value in pending.items():
            self.set(name, value, force=True)


def is_authorization_key(value: str) -> bool:
    """1.6 AuthorizationKey (Security Whitepaper §3.1.2, §5.1): 20 bytes written as 40 hex characters."""
    return len(value) == 40 and all(c in "0123456789abcdefABCDEF" for c in value)


def is_basic_auth_password(value: str) -> bool:
    """2.0.1 SecurityCtrlr.BasicAuthPassword (A01, passwordString): 16 to 40 printable ASCII characters."""
    return 16 <= len(value) <= 40 and all(32 < ord(c) < 127 for c in value)


# Where a charge point keeps its Basic-auth password, per version.
PASSWORD_KEY_16 = "AuthorizationKey"
PASSWORD_KEY_201 = "SecurityCtrlr.BasicAuthPassword"


def _csl(value: str, members=None, **kwargs) -> ConfigKey:
    return ConfigKey(value=value, kind="csl", members=frozenset(members) if members else None, **kwargs)


def keys_16(*, connectors: int, heartbeat_s: int, sample_interval_s: float) -> list[ConfigKey]:
    """The OCPP 1.6 configuration keys (§9.1–9.4) a charge point with every feature profile ships with."""
    return [
        ConfigKey("AllowOfflineTxForUnknownId", "false", "bool"),
        ConfigKey("AuthorizationCacheEnabled", "true", "bool"),
        ConfigKey("AuthorizeRemoteTxRequests", "false", "bool"),
        ConfigKey("ClockAlignedDataInterval", "0", "int", minimum=0),
        ConfigKey("ConnectionTimeOut", "60", "int", minimum=0),
        ConfigKey("ConnectorPhaseRotation", ",".join(f"{c}.RST" for c in range(connectors + 1)), "csl"),
        ConfigKey("GetConfigurationMaxKeys", "100", "int", readonly=True),
        ConfigKey("HeartbeatInterval", str(heartbeat_s), "int", minimum=0),
        ConfigKey("LocalAuthorizeOffline", "true", "bool"),
        ConfigKey("LocalPreAuthorize", "false", "bool"),
        _csl(",".join(MEASURANDS[:1]), KNOWN_MEASURANDS, name="MeterValuesAlignedData"),
        _csl(",".join(MEASURANDS), KNOWN_MEASURANDS, name="MeterValuesSampledData"),
        ConfigKey("MeterValueSampleInterval", _number(sample_interval_s), "num"),
        ConfigKey("NumberOfConnectors", str(connectors), "int", readonly=True),
        ConfigKey("ResetRetries", "3", "int", minimum=0),
        ConfigKey("StopTransactionOnEVSideDisconnect", "true", "bool"),
        ConfigKey("StopTransactionOnInvalidId", "true", "bool"),
        _csl(MEASURANDS[0], KNOWN_MEASURANDS, name="StopTxnAlignedData"),
        _csl(MEASURANDS[0], KNOWN_MEASURANDS, name="StopTxnSampledData"),
        ConfigKey(
            "SupportedFeatureProfiles",
            "Core,FirmwareManagement,LocalAuthListManagement,Reservation,SmartCharging,RemoteTrigger",
            "csl",
            readonly=True,
        ),
        ConfigKey("TransactionMessageAttempts", "3", "int", minimum=1),
        ConfigKey("TransactionMessageRetryInterval", "5", "int", minimum=0),
        ConfigKey("UnlockConnectorOnEVSideDisconnect", "true", "bool"),
        ConfigKey("WebSocketPingInterval", "30", "int", minimum=0, reboot_required=True),
        ConfigKey("LocalAuthListEnabled", "true", "bool"),
        ConfigKey("LocalAuthListMaxLength", "1000", "int", readonly=True),
        ConfigKey("SendLocalListMaxLength", "100", "int", readonly=True),
        ConfigKey("ReserveConnectorZeroSupported", "false", "bool", readonly=True),
        ConfigKey("ChargeProfileMaxStackLevel", "10", "int", readonly=True),
        ConfigKey("ChargingScheduleAllowedChargingRateUnit", "Current,Power", "csl", readonly=True),
        ConfigKey("ChargingScheduleMaxPeriods", "24", "int", readonly=True),
        ConfigKey("MaxChargingProfilesInstalled", "20", "int", readonly=True),
        ConfigKey("SupportedFeatureProfilesMaxLength", "6", "int", readonly=True),
        ConfigKey(PASSWORD_KEY_16, "", writeonly=True, check=is_authorization_key),
    ]


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


@dataclass(frozen=True)
class Variable:
    """A 2.0.1 device model variable (component, variable, instances, EVSE) stored under KeyStore `key`.

    `data_type` is a DataEnumType (integer, boolean, string, decimal,
    MemberList, OptionList, SequenceList, dateTime).
    """

    component: str
    variable: str
    key: str
    data_type: str = "string"
    evse: int | None = None
    connector: int | None = None
    component_instance: str | None = None
    variable_instance: str | None = None

    def matches(self, component: dict, variable: dict) -> bool:
        """Whether this is the variable a GetVariables / SetVariables entry names (snake_case or camelCase keys)."""
        evse = component.get("evse") or {}
        connector = evse.get("connector_id", evse.get("connectorId"))
        return (
            component.get("name") == self.component
            and (component.get("instance") or None) == self.component_instance
            and evse.get("id") == self.evse
            and connector == self.connector
            and variable.get("name") == self.variable
            and (variable.get("instance") or None) == self.variable_instance
        )

    def component_dict(self) -> dict:
        component = {"name": self.component}
        if self.component_instance:
            component["instance"] = self.component_instance
        if self.evse is not None:
            component["evse"] = {"id": self.evse, **({"connectorId": self.connector} if self.connector else {})}
        return component

    def variable_dict(self) -> dict:
        return {"name": self.variable, **({"instance": self.variable_instance} if self.variable_instance else {})}


# 2.0.1 variables over keys that 1.6 names the same way.
_SHARED = [
    ("OCPPCommCtrlr", "HeartbeatInterval", "HeartbeatInterval", "integer"),
    ("OCPPCommCtrlr", "WebSocketPingInterval", "WebSocketPingInterval", "integer"),
    ("OCPPCommCtrlr", "ResetRetries", "ResetRetries", "integer"),
    ("SampledDataCtrlr", "TxUpdatedInterval", "MeterValueSampleInterval", "integer"),
    ("SampledDataCtrlr", "TxUpdatedMeasurands", "MeterValuesSampledData", "MemberList"),
    ("SampledDataCtrlr", "TxEndedMeasurands", "StopTxnSampledData", "MemberList"),
    ("AlignedDataCtrlr", "Interval", "ClockAlignedDataInterval", "integer"),
    ("AlignedDataCtrlr", "Measurands", "MeterValuesAlignedData", "MemberList"),
    ("AuthCtrlr", "LocalAuthorizeOffline", "LocalAuthorizeOffline", "boolean"),
    ("AuthCtrlr", "LocalPreAuthorize", "LocalPreAuthorize", "boolean"),
    ("AuthCtrlr", "AuthorizeRemoteStart", "AuthorizeRemoteTxRequests", "boolean"),
    ("AuthCtrlr", "OfflineTxForUnknownIdEnabled", "AllowOfflineTxForUnknownId", "boolean"),
    ("AuthCacheCtrlr", "Enabled", "AuthorizationCacheEnabled", "boolean"),
    ("LocalAuthListCtrlr", "Enabled", "LocalAuthListEnabled", "boolean"),
    ("LocalAuthListCtrlr", "ItemsPerMessage", "SendLocalListMaxLength", "integer"),
    ("LocalAuthListCtrlr", "Entries", "LocalAuthListEntries", "integer"),
    ("TxCtrlr", "EVConnectionTimeOut", "ConnectionTimeOut", "integer"),
    ("TxCtrlr", "StopTxOnEVSideDisconnect", "StopTransactionOnEVSideDisconnect", "boolean"),
    ("TxCtrlr", "StopTxOnInvalidId", "StopTransactionOnInvalidId", "boolean"),
    ("SmartChargingCtrlr", "ProfileStackLevel", "ChargeProfileMaxStackLevel", "integer"),
    ("SmartChargingCtrlr", "PeriodsPerSchedule", "ChargingScheduleMaxPeriods", "integer"),
    ("SmartChargingCtrlr", "Entries", "MaxChargingProfilesInstalled", "integer"),
]
# 2.0.1-only variables: (component, variable, value, data type, read-only).
_ONLY_201 = [
    ("OCPPCommCtrlr", "OfflineThreshold", "60", "integer", False),
    ("OCPPCommCtrlr", "NetworkProfileConnectionAttempts", "3", "integer", False),
    ("TxCtrlr", "TxStartPoint", "Authorized,EVConnected", "MemberList", False),
    ("TxCtrlr", "TxStopPoint", "Authorized,EVConnected", "MemberList", False),
    ("ReservationCtrlr", "Enabled", "true", "boolean", False),
    ("ReservationCtrlr", "NonEvseSpecific", "true", "boolean", True),
    ("SmartChargingCtrlr", "Enabled", "true", "boolean", False),
    ("SmartChargingCtrlr", "RateUnit", "A,W", "MemberList", True),
    ("SecurityCtrlr", "SecurityProfile", "1", "integer", True),
    ("SecurityCtrlr", "OrganizationName", "Simulated CPO", "string", False),
    ("DeviceDataCtrlr", "ItemsPerMessage", "20", "integer", True),
    ("ClockCtrlr", "TimeSource", "Heartbeat", "SequenceList", False),
    ("ChargingStation", "Model", "", "string", True),
    ("ChargingStation", "VendorName", "", "string", True),
    ("ChargingStation", "SupplyPhases", "3", "integer", True),
]
_KIND = {"integer": "int", "boolean": "bool", "MemberList": "csl", "SequenceList": "csl"}


def keys_201(*, connectors: int, heartbeat_s: int, sample_interval_s: float) -> list[ConfigKey]:
    """The keys behind `device_model_201`: the shared 1.6 ones plus the 2.0.1-only variables."""
    keys_of_16 = keys_16(connectors=connectors, heartbeat_s=heartbeat_s, sample_interval_s=sample_interval_s)
    shared = {key.name: key for key in keys_of_16}
    keys = [shared[name] for _, _, name, _ in _SHARED if name in shared]
    keys.append(ConfigKey("LocalAuthListEntries", "0", "int", readonly=True))
    for component, variable, value, data_type, readonly in _ONLY_201:
        keys.append(ConfigKey(f"{component}.{variable}", value, _KIND.get(data_type, "str"), readonly=readonly))
    for evse in range(1, connectors + 1):
        keys.append(ConfigKey(f"EVSE{evse}.AvailabilityState", "Available", readonly=True))
        keys.append(ConfigKey(f"EVSE{evse}.Power", "22080", "int", readonly=True, unit="W"))
    keys.append(ConfigKey("ChargingStation.AvailabilityState", "Available", readonly=True))
    keys.append(ConfigKey(PASSWORD_KEY_201, "", writeonly=True, check=is_basic_auth_password))
    return keys


def device_model_201(connectors: int) -> list[Variable]:
    """The 2.0.1 variables a station reports (GetBaseReport FullInventory) and serves (Get/SetVariables)."""
    variables = [Variable(c, v, key, t) for c, v, key, t in _SHARED]
    variables += [Variable(c, v, f"{c}.{v}", t) for c, v, _, t, _ in _ONLY_201]
    variables.append(Variable("ChargingStation", "AvailabilityState", "ChargingStation.AvailabilityState", "OptionList"))
    for evse in range(1, connectors + 1):
        variables.append(Variable("EVSE", "AvailabilityState", f"EVSE{evse}.AvailabilityState", "OptionList", evse=evse))
        variables.append(Variable("EVSE", "Power", f"EVSE{evse}.Power", "decimal", evse=evse))
    variables.append(
        Variable("SecurityCtrlr", "BasicAuthPassword", PASSWORD_KEY_201, "string")
    )  # NotifyReport's DataEnumType lacks passwordString
    return variables
