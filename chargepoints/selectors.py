"""Reads about charge points."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db.models import Case, Count, Exists, F, IntegerField, Max, OuterRef, Prefetch, Q, QuerySet, Value, When
from django.utils import timezone
from ocpp.v201.enums import MutabilityEnumType

from .models import (
    BootNotification,
    Certificate,
    ChargePoint,
    ChargingProfileInstallation,
    Command,
    Connector,
    DataTransfer,
    DiagnosticsStatusNotification,
    FirmwareStatusNotification,
    SecurityEvent,
    StatusNotification,
    Variable,
)


def charge_point_list() -> QuerySet[ChargePoint]:
    """Charge points with their server process's lease (for `online`) and their connectors prefetched (one extra query a page)."""
    return ChargePoint.objects.select_related("server_process").prefetch_related(
        Prefetch("connectors", queryset=Connector.objects.order_by("connector_id"))
    )


def online_q() -> Q:
    """The condition of `ChargePoint.online` as a query: connected, its process's lease alive, heard from recently.

    Connected, and either no server process recorded or one renewed within
    OCPP_PRESENCE_TTL seconds, and `last_seen` within two heartbeat intervals
    plus a minute. `~online_q()` is "offline" (NULLs included: Django negates
    with IS NOT NULL guards).
    """
    now = timezone.now()
    lease_alive = Q(server_process__isnull=True) | Q(server_process__renewed_at__gte=now - timedelta(seconds=settings.OCPP_PRESENCE_TTL))
    recent = Q(last_seen__gte=now - timedelta(seconds=2 * settings.OCPP_HEARTBEAT_INTERVAL + 60))
    return Q(connected=True) & lease_alive & recent


def charge_points_filter_online(charge_points: QuerySet[ChargePoint], *, online: bool) -> QuerySet[ChargePoint]:
    """`charge_points` that are online (`online=True`) or not, by the rule of `ChargePoint.online`."""
    return charge_points.filter(online_q()) if online else charge_points.exclude(online_q())


def charge_points_filter_connector_status(charge_points: QuerySet[ChargePoint], *, status: str) -> QuerySet[ChargePoint]:
    """`charge_points` having at least one connector whose last reported status is `status` (exact, e.g. Faulted)."""
    return charge_points.filter(Exists(Connector.objects.filter(charge_point=OuterRef("pk"), status=status)))


def charge_point_is_registered(charge_point_id: str) -> bool:
    return ChargePoint.objects.filter(pk=charge_point_id).exists()


def variables_for(charge_point_id: str, *, component: str | None = None, variable: str | None = None) -> QuerySet[Variable]:
    """The station's OCPP 2.0.1 device model (Part 1 §4): its Variable rows, one per variable attribute.

    `component` and `variable` keep only rows with exactly that name; None or
    "" keeps all. Ordered by the unique key (component name, instance, EVSE,
    connector, variable name, instance, attribute type), a total order, so
    limit/offset pages never overlap. Empty for an unknown or 1.6 charge point.
    """
    qs = Variable.objects.filter(charge_point_id=charge_point_id)
    if component:
        qs = qs.filter(component=component)
    if variable:
        qs = qs.filter(variable=variable)
    return qs.order_by("component", "component_instance", "evse_id", "connector_id", "variable", "variable_instance", "attribute_type")


def charge_point_get(*, charge_point_id: str) -> ChargePoint | None:
    """The charge point of that identity, or None."""
    return ChargePoint.objects.filter(pk=charge_point_id).first()


def charge_point_presence(*, charge_point_id: str) -> ChargePoint | None:
    """The charge point with its server process's lease (for `ChargePoint.online`), or None when unknown."""
    return ChargePoint.objects.select_related("server_process").filter(pk=charge_point_id).first()


def charge_points_last_seen(*, charge_point_ids) -> dict[str, datetime | None]:
    """{id: last_seen} of those of `charge_point_ids` that exist."""
    return dict(ChargePoint.objects.filter(pk__in=list(charge_point_ids)).values_list("pk", "last_seen"))


def variable_is_write_only(*, charge_point_id: str, component: dict, variable: dict, attribute_type: str) -> bool:
    """True when the station reported that attribute (2.0.1 ComponentType, VariableType) WriteOnly."""
    return Variable.objects.filter(
        charge_point_id=charge_point_id,
        **Variable.lookup(component, variable, attribute_type),
        mutability=MutabilityEnumType.write_only,
    ).exists()


def message_limits(*, charge_point_id: str, action: str) -> tuple[int | None, int | None]:
    """(items, bytes): the most entries and bytes the station takes in one `action` request, None when unknown.

    action: GetVariables, SetVariables or GetReport. Read from the stored
    device model (2.0.1 Part 2 §2, DeviceDataCtrlr), Actual attribute:
    `ItemsPerMessage` / `BytesPerMessage` with variable instance `action`, or,
    as some stations report them, variables named `ItemsPerMessage<action>` /
    `BytesPerMessage<action>`. Names match whatever their case (OCPP's CiString).
    A value that is no whole number above 0 is ignored; when both spellings
    give one, the smaller holds. (None, None) for an unknown or 1.6 charge
    point, or one that never reported them. `chargepoints.ocpp.v201.split`
    explains how bytes are counted.
    """
    rows = Variable.objects.filter(
        Q(variable__iexact="ItemsPerMessage", variable_instance__iexact=action)
        | Q(variable__iexact="BytesPerMessage", variable_instance__iexact=action)
        | Q(variable__iexact=f"ItemsPerMessage{action}")
        | Q(variable__iexact=f"BytesPerMessage{action}"),
        charge_point_id=charge_point_id,
        component__iexact="DeviceDataCtrlr",
        attribute_type="Actual",
    ).values_list("variable", "value")
    limits: dict[str, int] = {}
    for variable, value in rows:
        try:
            number = int(str(value).strip())
        except ValueError:
            continue
        if number < 1:
            continue
        kind = "items" if variable.lower().startswith("items") else "bytes"
        limits[kind] = min(number, limits.get(kind, number))
    return limits.get("items"), limits.get("bytes")


def write_only_variables(*, charge_point_id: str, payload: dict) -> frozenset[tuple]:
    """The `Variable.identity`s of a 2.0.1 SetVariables payload's entries the station reported WriteOnly.

    One query, whatever the number of entries. Any attribute type reported
    WriteOnly counts for every attribute of that variable: when in doubt, hide.
    """
    names = {entry["variable"]["name"] for entry in payload.get("setVariableData", [])}
    if not names:
        return frozenset()
    rows = Variable.objects.filter(charge_point_id=charge_point_id, mutability=MutabilityEnumType.write_only, variable__in=names)
    return frozenset(rows.values_list(*Variable.IDENTITY_FIELDS))


def command_list() -> QuerySet[Command]:
    """The command log, newest first, with the user who sent each joined."""
    return Command.objects.select_related("user").order_by("-created_at", "-id")


# --- Security events


def security_event_list(*, charge_point_id: str | None = None) -> QuerySet[SecurityEvent]:
    """Security events (station-reported and CSMS-noticed), newest received first; of one identity when given."""
    events = SecurityEvent.objects.order_by("-received_at", "-id")
    return events.filter(charge_point_id=charge_point_id) if charge_point_id is not None else events


def certificates_due_for_renewal(*, now: datetime | None = None) -> QuerySet[ChargePoint]:
    """Charge points to ask for a new CSR: their newest charge point certificate (issued or installed) ends within
    OCPP_CERTIFICATE_RENEWAL_DAYS of `now`, and they were not asked in the last OCPP_CERTIFICATE_RENEWAL_RETRY_HOURS.

    Annotated with `certificate_not_after` (the newest certificate's end). Ordered by that end, soonest first.
    """
    now = now or timezone.now()
    horizon = now + timedelta(days=settings.OCPP_CERTIFICATE_RENEWAL_DAYS)
    asked_before = now - timedelta(hours=settings.OCPP_CERTIFICATE_RENEWAL_RETRY_HOURS)
    live = Q(
        certificates__kind=Certificate.Kind.CHARGE_POINT, certificates__status__in=[Certificate.Status.ISSUED, Certificate.Status.INSTALLED]
    )
    return (
        ChargePoint.objects.annotate(certificate_not_after=Max("certificates__not_after", filter=live))
        .filter(certificate_not_after__lte=horizon)
        .filter(Q(certificate_renewal_requested_at__isnull=True) | Q(certificate_renewal_requested_at__lt=asked_before))
        .order_by("certificate_not_after", "pk")
    )


def certificate_renewal_due(*, charge_point_id: str, now: datetime | None = None) -> bool:
    """Whether `charge_point_id` is one of `certificates_due_for_renewal`."""
    return certificates_due_for_renewal(now=now).filter(pk=charge_point_id).exists()


def certificate_list(*, charge_point_id: str | None = None) -> QuerySet[Certificate]:
    """Certificates the CA issued, newest first; of one charge point when given."""
    certificates = Certificate.objects.order_by("-issued_at", "-id")
    return certificates.filter(charge_point_id=charge_point_id) if charge_point_id is not None else certificates


# --- Histories: what charge points reported, newest first


def status_notification_list() -> QuerySet[StatusNotification]:
    """Every StatusNotification received (OCPP 1.6 §4.9, 2.0.1 G01), newest received first."""
    return StatusNotification.objects.order_by("-received_at", "-id")


def boot_notification_list() -> QuerySet[BootNotification]:
    """Every BootNotification received (1.6 §4.2, 2.0.1 B01) and the status answered, newest first."""
    return BootNotification.objects.order_by("-received_at", "-id")


def data_transfer_list() -> QuerySet[DataTransfer]:
    """Every DataTransfer a charge point sent (1.6 §4.3, 2.0.1 P02) and what was answered, newest first."""
    return DataTransfer.objects.order_by("-received_at", "-id")


def firmware_status_list() -> QuerySet[FirmwareStatusNotification]:
    """Every FirmwareStatusNotification received (1.6 §4.5, 2.0.1 L01), newest first."""
    return FirmwareStatusNotification.objects.order_by("-received_at", "-id")


def diagnostics_status_list() -> QuerySet[DiagnosticsStatusNotification]:
    """Every DiagnosticsStatusNotification received (1.6 §4.4), newest first."""
    return DiagnosticsStatusNotification.objects.order_by("-received_at", "-id")


def charging_profile_installation_list() -> QuerySet[ChargingProfileInstallation]:
    """Charging profiles where they were installed (an EVSE of a charge point), newest installed first, with the profile joined."""
    return ChargingProfileInstallation.objects.select_related("profile").order_by("-installed_at", "-id")


# --- The operators' dashboard (chargepoints/dashboard/): counts and the fleet table

# Connector statuses the dashboard counts (OCPP 1.6 §7.7 ChargePointStatus, 2.0.1 ConnectorStatusEnumType).
FAULTED = "Faulted"
UNAVAILABLE = "Unavailable"
CHARGING = "Charging"  # 1.6 only: a 2.0.1 connector with a session is Occupied, so open transactions count too
DASHBOARD_STATES = ("online", "offline", "charging", "faulted", "unavailable")
DASHBOARD_SORTS = ("id", "-id", "last_seen", "-last_seen", "status", "-status")


def _with_connector_status(status: str) -> Q:
    # Connector.status is the *current* status (the history is StatusNotification). An uncorrelated
    # IN (subquery) is evaluated once per query, where EXISTS would probe connectors once per charge point.
    return Q(pk__in=Connector.objects.filter(status=status).values("charge_point_id"))


def _with_open_transaction() -> Q:
    from transactions.models import Transaction

    return Q(pk__in=Transaction.objects.active().values("charge_point_id"))


def _open_transaction_exists() -> Exists:
    from transactions.models import Transaction

    return Exists(Transaction.objects.active().filter(charge_point=OuterRef("pk")))


def dashboard_state_q(state: str) -> Q:
    """The condition of one dashboard count as a query on ChargePoint; ValueError for a state not in DASHBOARD_STATES.

    online / offline: `ChargePoint.online` (`online_q`); charging: a connector
    whose current status is Charging, or an open transaction (not stopped, not
    an orphan); faulted / unavailable: a connector (connector 0, the charge
    point as a whole, included) whose current status is Faulted / Unavailable.
    The last three hold whether or not the charge point is online: an offline
    charge point's last status is shown, as stale.
    """
    if state == "online":
        return online_q()
    if state == "offline":
        return ~online_q()
    if state == "charging":
        return _with_connector_status(CHARGING) | _with_open_transaction()
    if state in ("faulted", "unavailable"):
        return _with_connector_status(FAULTED if state == "faulted" else UNAVAILABLE)
    raise ValueError(f"unknown dashboard state {state!r}")


def dashboard_energy_today_wh(*, now: datetime | None = None) -> int:
    """Energy delivered by the sessions that started in today's UTC day (midnight to midnight UTC of `now`), in Wh.

    Per transaction (orphans excluded): the meter stop, or for an open one the
    latest Energy.Active.Import.Register reading stored
    (`Transaction.last_meter_wh`, kept from its meter values), minus the meter
    start. A session is counted whole on the day it started: one that began
    before midnight counts nothing today, and one still running counts what it
    delivered so far. Sessions without a meter start or any end reading, and
    negative differences (a meter replaced or reset), count nothing. 0 when none.
    """
    from django.db.models import Sum
    from django.db.models.functions import Coalesce

    from transactions.models import Transaction

    now = now or timezone.now()
    midnight = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    energy = (
        Transaction.objects.filter(is_orphan=False, start_timestamp__gte=midnight, start_timestamp__lt=midnight + timedelta(days=1))
        .annotate(energy_wh=Coalesce(F("meter_stop_wh"), F("last_meter_wh")) - F("meter_start_wh"))
        .filter(energy_wh__gte=0)
        .aggregate(total=Sum("energy_wh"))["total"]
    )
    return energy or 0


def dashboard_counts(*, now: datetime | None = None) -> dict[str, int]:
    """The dashboard's counts, in two queries whatever the fleet's size (one aggregate with a FILTER per state).

    {"total", "online", "offline", "charging", "faulted", "unavailable"}:
    numbers of charge points, each as `dashboard_state_q` defines it (so a
    count and the table filtered on that state agree); "energy_today_wh":
    `dashboard_energy_today_wh`.
    """
    counts = ChargePoint.objects.aggregate(
        total=Count("pk"),
        **{state: Count("pk", filter=dashboard_state_q(state)) for state in DASHBOARD_STATES if state != "offline"},
    )
    counts["offline"] = counts["total"] - counts["online"]
    counts["energy_today_wh"] = dashboard_energy_today_wh(now=now)
    return counts


def dashboard_charge_points() -> QuerySet[ChargePoint]:
    """Charge points as the dashboard's table shows them: a constant number of queries for any page.

    Each has its server process's lease joined (for `online`), its connectors
    prefetched in (EVSE, connector) order (one extra query), and
    `has_open_transaction` (bool) annotated. Ordered by identity.
    """
    return (
        ChargePoint.objects.select_related("server_process")
        .annotate(has_open_transaction=_open_transaction_exists())
        .prefetch_related(Prefetch("connectors", queryset=Connector.objects.order_by("evse_id", "connector_id")))
        .order_by("pk")
    )


def dashboard_charge_points_filter(
    charge_points: QuerySet[ChargePoint], *, state: str = "", version: str = "", search: str = ""
) -> QuerySet[ChargePoint]:
    """`charge_points` in one of DASHBOARD_STATES (`dashboard_state_q`; "" for all), of one OCPP version ("1.6",
    "2.0.1"; "" for all), whose identity, vendor, model or serial numbers contain `search` (case-insensitive; "" for all)."""
    if state:
        charge_points = charge_points.filter(dashboard_state_q(state))
    if version:
        charge_points = charge_points.filter(ocpp_version=version)
    search = search.strip()
    if search:
        charge_points = charge_points.filter(
            Q(id__icontains=search)
            | Q(vendor__icontains=search)
            | Q(model__icontains=search)
            | Q(serial_number__icontains=search)
            | Q(charge_box_serial_number__icontains=search)
        )
    return charge_points


def dashboard_charge_points_sort(charge_points: QuerySet[ChargePoint], *, sort: str = "id") -> QuerySet[ChargePoint]:
    """`charge_points` ordered by one of DASHBOARD_SORTS ("-" for descending); ties by identity; ValueError for another.

    "last_seen": charge points never seen come last either way.
    "status": what needs an operator first: a Faulted connector (0), offline (1),
    an Unavailable connector (2), charging (3), the rest (4).
    """
    if sort not in DASHBOARD_SORTS:
        raise ValueError(f"unknown dashboard sort {sort!r}")
    descending = sort.startswith("-")
    field = sort.lstrip("-")
    if field == "id":
        return charge_points.order_by("-pk" if descending else "pk")
    if field == "last_seen":
        key = F("last_seen").desc(nulls_last=True) if descending else F("last_seen").asc(nulls_last=True)
        return charge_points.order_by(key, "pk")
    rank = Case(
        When(dashboard_state_q("faulted"), then=Value(0)),
        When(dashboard_state_q("offline"), then=Value(1)),
        When(dashboard_state_q("unavailable"), then=Value(2)),
        When(dashboard_state_q("charging"), then=Value(3)),
        default=Value(4),
        output_field=IntegerField(),
    )
    charge_points = charge_points.annotate(status_rank=rank)
    return charge_points.order_by("-status_rank" if descending else "status_rank", "pk")


def certificate_names(cp: ChargePoint) -> list[str]:
    """The subject CNs a certificate of `cp` may carry (1.6 Security Whitepaper §2.3.3, 2.0.1 A00.FR.5xx): its identity,
    and each serial number it reported at its last boot (chargePointSerialNumber, chargeBoxSerialNumber) that no
    other charge point claims as identity or serial number.

    A charge point chooses the serial number it reports: one that another charge point also has (or has as its
    identity) proves nothing about who is who, so neither signing (`services.certificate_sign`) nor profile 3
    (`services._refusal`) takes it.
    """
    serials = {s for s in (cp.serial_number, cp.charge_box_serial_number) if s}
    if serials:
        others = (
            ChargePoint.objects.exclude(pk=cp.pk)
            .filter(Q(pk__in=serials) | Q(serial_number__in=serials) | Q(charge_box_serial_number__in=serials))
            .values_list("pk", "serial_number", "charge_box_serial_number")
        )
        serials -= {name for row in others for name in row}
    return [cp.pk, *sorted(serials)]
