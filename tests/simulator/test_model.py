"""The simulator's pure parts: charging curve, power under a charging profile, backoff, offline queue order."""

import itertools
import random
from datetime import UTC, datetime, timedelta

import pytest

from simulator.connection import Backoff
from simulator.faults import FaultInjector, FaultRates
from simulator.keystore import KeyStore, keys_16
from simulator.model import (
    VEHICLE_MODELS,
    AuthCache,
    ChargingCurve,
    Limit,
    LocalAuthList,
    Session,
    Vehicle,
    VehicleModel,
    charging_current_a,
    offline_authorization,
    split_range,
)
from simulator.offline import (
    CallFailed,
    Disconnected,
    QueuedMessage,
    SkipMessage,
    TransactionQueue,
    deliver_head,
)
from simulator.profiles import ChargingProfile, ProfileStore, combined_limit
from simulator.station import _next_version

T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
PREMIUM = VehicleModel("premium", 95_000, 3, 32.0)
COMPACT = VehicleModel("compact", 40_000, 1, 32.0)


# --- charging curve -----------------------------------------------------------------------


def test_the_curve_is_flat_until_80_percent_then_tapers_to_a_tenth_at_full():
    curve = ChargingCurve(max_power_w=11_000)
    assert curve.accepted_power_w(10) == curve.accepted_power_w(80) == 11_000
    assert curve.accepted_power_w(90) == pytest.approx(11_000 * (0.1 + 0.9 * 0.5))
    assert curve.accepted_power_w(99.99) == pytest.approx(1_100, rel=0.01)
    assert curve.accepted_power_w(100) == 0


def test_power_falls_monotonically_through_the_taper():
    curve = ChargingCurve(max_power_w=22_000)
    powers = [curve.accepted_power_w(soc) for soc in range(0, 101)]
    assert all(a >= b for a, b in itertools.pairwise(powers))


def test_a_session_charges_at_constant_power_then_slows_and_stops_at_its_target():
    session = Session(
        local_id=1,
        connector_id=1,
        id_tag="T",
        vehicle=Vehicle(PREMIUM, soc_pct=70, target_soc_pct=100),
        meter_start_wh=0,
        started_at=T0,
    )
    session.advance(60, evse_max_current_a=32, limit=None)
    assert session.power_w == pytest.approx(3 * 32 * 230)
    assert session.energy_wh == pytest.approx(22_080 / 60, rel=0.01)  # one minute at 22.08 kW
    energy_before = session.energy_wh
    hours = 0
    while session.power_w > 0 and hours < 10 * 60:
        session.advance(60, evse_max_current_a=32, limit=None)
        hours += 1
    assert session.vehicle.soc_pct == pytest.approx(100, abs=0.01)
    assert session.charging_state == "SuspendedEV"
    # 30 % of 95 kWh delivered in all, energy never decreasing.
    assert session.energy_wh == pytest.approx(0.30 * 95_000, rel=0.01)
    assert session.energy_wh > energy_before


def test_a_single_phase_vehicle_draws_on_one_phase_only():
    current, phases, reason = charging_current_a(Vehicle(COMPACT, 20), evse_max_current_a=32, limit=None)
    assert (current, phases, reason) == (32, 1, "vehicle")


def test_random_vehicles_come_from_the_catalogue_and_repeat_with_the_seed():
    first = [Vehicle.random(random.Random(5)) for _ in range(3)]
    again = [Vehicle.random(random.Random(5)) for _ in range(3)]
    assert first == again
    assert all(v.model in VEHICLE_MODELS and 10 <= v.soc_pct <= 60 for v in first)


# --- power under charging profiles ------------------------------------------------------


def profile_16(**overrides) -> dict:
    profile = {
        "chargingProfileId": 1,
        "stackLevel": 0,
        "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Relative",
        "chargingSchedule": {"chargingRateUnit": "A", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 10.0}]},
    }
    profile.update(overrides)
    return profile


def test_an_ampere_limit_caps_the_current_per_phase():
    current, phases, reason = charging_current_a(Vehicle(PREMIUM, 20), evse_max_current_a=32, limit=Limit(10, "A"))
    assert (current, phases, reason) == (10, 3, "limit")


def test_a_watt_limit_is_spread_over_the_phases_in_use():
    current, _, _ = charging_current_a(Vehicle(PREMIUM, 20), evse_max_current_a=32, limit=Limit(6900, "W"))
    assert current == pytest.approx(10)
    single, _, _ = charging_current_a(Vehicle(COMPACT, 20), evse_max_current_a=32, limit=Limit(2300, "W"))
    assert single == pytest.approx(10)


def test_a_limit_below_six_amperes_suspends_charging():
    session = Session(local_id=1, connector_id=1, id_tag="T", vehicle=Vehicle(PREMIUM, 20), meter_start_wh=0, started_at=T0)
    session.advance(10, evse_max_current_a=32, limit=Limit(5, "A"))
    assert session.power_w == 0 and session.energy_wh == 0
    assert session.charging_state == "SuspendedEVSE"


def test_a_relative_profile_follows_the_session_start_and_its_periods():
    store = ProfileStore()
    store.install(
        ChargingProfile.from_ocpp(
            1,
            profile_16(
                chargingSchedule={
                    "chargingRateUnit": "A",
                    "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.0}, {"startPeriod": 600, "limit": 8.0}],
                }
            ),
            installed_at=T0,
        )
    )
    assert store.limits(1, now=T0, session_start=None) == (None, None)  # no session: a Tx profile does not apply
    tx, _ = store.limits(1, now=T0 + timedelta(minutes=5), session_start=T0)
    assert tx == Limit(16.0, "A", None)
    tx, _ = store.limits(1, now=T0 + timedelta(minutes=15), session_start=T0)
    assert tx.value == 8.0


def test_a_tx_profile_beats_the_default_and_the_charge_point_maximum_caps_both():
    store = ProfileStore()
    store.install(ChargingProfile.from_ocpp(1, profile_16(), installed_at=T0))
    store.install(
        ChargingProfile.from_ocpp(
            1,
            profile_16(
                chargingProfileId=2,
                chargingProfilePurpose="TxProfile",
                transactionId=42,
                chargingSchedule={"chargingRateUnit": "W", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 11040.0}]},
            ),
            installed_at=T0,
        )
    )
    store.install(
        ChargingProfile.from_ocpp(
            0,
            profile_16(
                chargingProfileId=3,
                chargingProfilePurpose="ChargePointMaxProfile",
                chargingProfileKind="Absolute",
                chargingSchedule={"chargingRateUnit": "A", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 12.0}]},
            ),
            installed_at=T0,
        )
    )
    now = T0 + timedelta(seconds=30)
    limits = store.limits(1, now=now, session_start=T0, transaction_id="42")
    assert limits[0] == Limit(11040.0, "W", None) and limits[1].value == 12.0
    assert combined_limit(limits, phases=3).value == pytest.approx(12.0)  # 11040 W = 16 A; the maximum is 12 A
    # Another transaction on the connector gets the default profile, the maximum shared by two sessions.
    other = store.limits(1, now=now, session_start=T0, transaction_id="43")
    assert combined_limit(other, phases=3, share=2).value == pytest.approx(6.0)


def test_installing_replaces_same_id_or_same_purpose_and_stack_level_and_clear_matches_criteria():
    store = ProfileStore()
    store.install(ChargingProfile.from_ocpp(1, profile_16(), installed_at=T0))
    store.install(ChargingProfile.from_ocpp(1, profile_16(chargingProfileId=5), installed_at=T0))
    assert list(store.profiles) == [5]
    store.install(ChargingProfile.from_ocpp(2, profile_16(chargingProfileId=6, stackLevel=1), installed_at=T0))
    assert store.clear(connector_id=2) == [6]
    assert store.clear(purpose="TxProfile") == []
    assert store.clear() == [5]


def test_a_recurring_daily_profile_repeats_every_day():
    store = ProfileStore()
    store.install(
        ChargingProfile.from_ocpp(
            0,
            profile_16(
                chargingProfilePurpose="ChargePointMaxProfile",
                chargingProfileKind="Recurring",
                recurrencyKind="Daily",
                chargingSchedule={
                    "startSchedule": "2026-11-01T00:00:00Z",
                    "chargingRateUnit": "A",
                    "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 6.0}, {"startPeriod": 8 * 3600, "limit": 20.0}],
                },
            ),
            installed_at=T0,
        )
    )
    _, night = store.limits(1, now=datetime(2026, 11, 22, 3, tzinfo=UTC))
    _, day = store.limits(1, now=datetime(2026, 11, 22, 12, tzinfo=UTC))
    assert (night.value, day.value) == (6.0, 20.0)


def test_the_composite_schedule_lists_where_the_limit_changes():
    store = ProfileStore()
    store.install(
        ChargingProfile.from_ocpp(
            1,
            profile_16(
                chargingSchedule={
                    "chargingRateUnit": "A",
                    "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.0}, {"startPeriod": 600, "limit": 8.0}],
                }
            ),
            installed_at=T0,
        )
    )
    periods = store.composite(1, now=T0, duration_s=3600, unit="A", rating_a=32, session_start=T0)
    assert [(p.start_s, p.limit) for p in periods] == [(0, 16.0), (600, 8.0)]
    watts = store.composite(1, now=T0, duration_s=300, unit="W", rating_a=32, session_start=None)
    assert [(p.start_s, p.limit) for p in watts] == [(0, 32 * 3 * 230.0)]


def test_without_a_session_the_composite_schedule_is_what_a_transaction_starting_now_would_get():
    store = ProfileStore()
    store.install(
        ChargingProfile.from_ocpp(
            0,
            profile_16(
                chargingProfileKind="Absolute",
                chargingSchedule={
                    "startSchedule": "2026-11-01T00:00:00Z",
                    "chargingRateUnit": "A",
                    "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.0}],
                },
            ),
            installed_at=T0,
        )
    )
    periods = store.composite(1, now=T0, duration_s=600, unit="A", rating_a=32, session_start=None)
    assert [(p.start_s, p.limit) for p in periods] == [(0, 16.0)]
    # A relative default starts with the transaction: until there is one, the rating applies.
    relative = ProfileStore()
    relative.install(ChargingProfile.from_ocpp(0, profile_16(), installed_at=T0))
    assert relative.limits(1, now=T0) == (None, None)
    assert relative.limits(1, now=T0, session_start=T0)[0].value == 10.0


def test_a_firmware_update_takes_the_version_its_file_name_gives_else_the_next_patch():
    assert _next_version("1.0.0", "https://fw.example.com/sim/fw-2.1.0.bin") == "2.1.0"
    assert _next_version("1.0.0", "https://fw.example.com/sim/fw-2.0.1.7.bin") == "2.0.1.7"
    assert _next_version("1.0.0", "https://example.com/fw-2.bin") == "1.0.1"
    assert _next_version("1.0.9", "https://example.com/v3.0/fw.bin") == "1.0.10"


# --- backoff ----------------------------------------------------------------------------


def test_backoff_doubles_within_jitter_up_to_its_cap_and_resets():
    backoff = Backoff(base_s=1, cap_s=30, rng=random.Random(1))
    delays = [backoff.next_delay() for _ in range(8)]
    for attempt, delay in enumerate(delays):
        ceiling = min(30, 2**attempt)
        assert ceiling / 2 <= delay <= ceiling
    assert max(delays) <= 30
    backoff.reset()
    assert backoff.next_delay() <= 1


def test_backoff_jitter_is_reproducible_with_the_seed_and_differs_between_seeds():
    def delays(seed):
        backoff = Backoff(base_s=1, cap_s=60, rng=random.Random(seed))
        return [backoff.next_delay() for _ in range(6)]

    assert delays("a") == delays("a")
    assert delays("a") != delays("b")


# --- offline queue ----------------------------------------------------------------------


class FakeCentralSystem:
    """Answers queued 1.6 messages: StartTransaction gets transaction id 7000 + n."""

    def __init__(self):
        self.received = []
        self.fail = []

    async def call(self, payload):
        if self.fail:
            raise self.fail.pop(0)
        self.received.append(payload)
        if type(payload).__name__ == "StartTransaction":
            return type("Answer", (), {"transaction_id": 7000 + len(self.received), "id_tag_info": {"status": "Accepted"}})()
        return None


def queue_session(queue: TransactionQueue, session, samples: int):
    """What a 1.6 session queues: start, meter values with the transaction id known only when sent, stop."""
    from ocpp.v16 import call

    def start_result(answer):
        session.server_transaction_id = answer.transaction_id

    def needs_id(build):
        def wrapped():
            if session.server_transaction_id is None:
                raise SkipMessage()
            return build()

        return wrapped

    queue.put(
        QueuedMessage(
            "StartTransaction",
            lambda: call.StartTransaction(connector_id=1, id_tag="T", meter_start=0, timestamp="2026-11-22T10:00:00Z"),
            session,
            start_result,
            True,
        )
    )
    for n in range(samples):
        queue.put(
            QueuedMessage(
                "MeterValues",
                needs_id(
                    lambda n=n: call.MeterValues(
                        connector_id=1,
                        transaction_id=session.server_transaction_id,
                        meter_value=[{"timestamp": f"2026-11-22T10:0{n + 1}:00Z", "sampledValue": [{"value": str(100 * (n + 1))}]}],
                    )
                ),
                session,
                None,
                True,
            )
        )
    queue.put(
        QueuedMessage(
            "StopTransaction",
            needs_id(
                lambda: call.StopTransaction(
                    meter_stop=100 * (samples + 1),
                    timestamp="2026-11-22T10:09:00Z",
                    transaction_id=session.server_transaction_id,
                )
            ),
            session,
            None,
            True,
        )
    )


def new_session():
    return Session(local_id=1, connector_id=1, id_tag="T", vehicle=Vehicle(PREMIUM, 20), meter_start_wh=0, started_at=T0)


async def drain(queue, server, attempts=3):
    outcomes = []
    while len(queue):
        outcomes.append(await deliver_head(queue, server.call, attempts=attempts))
    return outcomes


async def test_a_transaction_queued_offline_is_delivered_in_order_with_the_id_the_server_answered():
    queue, server, session = TransactionQueue(), FakeCentralSystem(), new_session()
    queue_session(queue, session, samples=3)
    assert await drain(queue, server) == ["sent"] * 5
    names = [type(p).__name__ for p in server.received]
    assert names == ["StartTransaction", "MeterValues", "MeterValues", "MeterValues", "StopTransaction"]
    assert {p.transaction_id for p in server.received[1:]} == {7001}
    assert [p.meter_value[0]["sampledValue"][0]["value"] for p in server.received[1:4]] == ["100", "200", "300"]


async def test_a_lost_connection_or_timeout_keeps_the_message_at_the_head_and_it_is_sent_once_after():
    queue, server, session = TransactionQueue(), FakeCentralSystem(), new_session()
    queue_session(queue, session, samples=2)
    server.fail = [Disconnected(), TimeoutError()]
    assert await deliver_head(queue, server.call) == "offline"
    assert await deliver_head(queue, server.call) == "retry"
    assert len(queue) == 4 and server.received == []
    assert await drain(queue, server) == ["sent"] * 4
    assert [type(p).__name__ for p in server.received].count("StartTransaction") == 1


async def test_a_message_refused_with_callerrors_is_given_up_after_its_attempts_and_the_rest_skip_without_an_id():
    queue, server, session = TransactionQueue(), FakeCentralSystem(), new_session()
    queue_session(queue, session, samples=1)
    server.fail = [CallFailed("InternalError")] * 2
    assert await drain(queue, server, attempts=2) == ["retry", "given_up", "skipped", "skipped"]
    assert server.received == [] and queue.given_up == 3


async def test_two_sessions_queued_offline_keep_their_own_ids():
    queue, server = TransactionQueue(), FakeCentralSystem()
    first, second = new_session(), new_session()
    queue_session(queue, first, samples=1)
    queue_session(queue, second, samples=1)
    await drain(queue, server)
    ids = [getattr(p, "transaction_id", None) for p in server.received]
    assert ids == [None, 7001, 7001, None, 7004, 7004]


# --- authorization, configuration, faults -------------------------------------------------


def test_local_list_full_and_differential_updates():
    local = LocalAuthList()
    assert local.update(version=3, full=True, entries={"A": "Accepted", "B": "Blocked"}) == "Accepted"
    assert local.update(version=3, full=False, entries={"C": "Accepted"}) == "VersionMismatch"
    assert local.update(version=4, full=False, entries={"B": None, "C": "Accepted"}) == "Accepted"
    assert (local.version, local.entries) == (4, {"A": "Accepted", "C": "Accepted"})


def test_offline_authorization_asks_the_local_list_then_the_cache_then_the_unknown_id_rule():
    local = LocalAuthList(entries={"LISTED": "Accepted", "BLOCKED": "Blocked"})
    cache = AuthCache()
    cache.remember("CACHED", {"status": "Accepted"})
    cache.remember("OLD", {"status": "Accepted", "expiryDate": "2000-01-01T00:00:00Z"})
    check = lambda tag, **kw: offline_authorization(tag, local_list=local, cache=cache, **kw)  # noqa: E731
    assert check("LISTED") and check("CACHED")
    assert not check("BLOCKED") and not check("OLD") and not check("STRANGER")
    assert check("STRANGER", allow_unknown=True)


def test_configuration_changes_are_validated_and_heard():
    store = KeyStore(keys_16(connectors=2, heartbeat_s=300, sample_interval_s=60))
    heard = []
    store.listeners.append(lambda name, value: heard.append((name, value)))
    assert store.set("HeartbeatInterval", "10") == "Accepted"
    assert store.set("HeartbeatInterval", "often") == "Rejected"
    assert store.set("NumberOfConnectors", "3") == "Rejected"
    assert store.set("NoSuchKey", "1") == "NotSupported"
    assert store.set("MeterValuesSampledData", "Energy.Active.Import.Register,Bogus") == "Rejected"
    assert store.set("WebSocketPingInterval", "60") == "RebootRequired"
    assert store.get("WebSocketPingInterval") == "30"
    store.reboot()
    assert store.get_int("WebSocketPingInterval") == 60
    assert heard == [("HeartbeatInterval", "10"), ("WebSocketPingInterval", "60")]


def test_faults_are_rolled_from_the_seed_and_counted():
    def rolls(seed):
        injector = FaultInjector(FaultRates(drop=0.3, malformed=0.5), random.Random(seed))
        return [(injector.drop(), injector.malformed('[2,"1","Heartbeat",{}]')) for _ in range(50)], injector.counts

    (first, counts), (again, _) = rolls(9), rolls(9)
    assert first == again
    assert 0 < counts["dropped"] < 50 and 0 < counts["malformed"] < 50
    assert all(broken is None or broken != '[2,"1","Heartbeat",{}]' for _, broken in first)
    with pytest.raises(ValueError):
        FaultRates(drop=1.5)


def test_ranges_parse_min_max():
    assert split_range("2-5") == (2.0, 5.0)
    assert split_range("0.5") == (0.5, 0.5)
    with pytest.raises(ValueError):
        split_range("5-2")
