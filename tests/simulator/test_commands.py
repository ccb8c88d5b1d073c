"""manage.py simulate and demo_setup, and the live view."""

import io
import re

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from chargepoints.models import ChargePoint
from simulator import Simulation, SimulationOptions, station_ids, versions_for
from simulator.view import TableView
from tests.e2e.conftest import free_port
from transactions.models import IdTag

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def test_ids_and_versions_for_the_demo_charge_points():
    assert station_ids(3, "DEMO-CP-", 1) == ["DEMO-CP-1", "DEMO-CP-2", "DEMO-CP-3"]
    assert station_ids(2) == ["SIM-0001", "SIM-0002"]
    assert versions_for("mixed", 3) == ["1.6", "2.0.1", "1.6"] == versions_for("1.6,2.0.1,1.6", 3)
    assert versions_for("2.0.1", 2) == ["2.0.1", "2.0.1"]
    with pytest.raises(ValueError):
        versions_for("1.6,2.0.1", 3)
    with pytest.raises(ValueError):
        versions_for("2.1", 1)
    options = SimulationOptions.build(ids=["DEMO-CP-1", "DEMO-CP-2", "DEMO-CP-3"], ocpp="1.6,2.0.1,1.6", seed=1)
    assert [s.settings.version for s in Simulation(options).stations.values()] == ["1.6", "2.0.1", "1.6"]


def test_the_live_table_shows_every_charge_point_with_its_connectors():
    options = SimulationOptions.build(count=3, ocpp="mixed", seed=4)
    simulation = Simulation(options)
    station = simulation.stations["SIM-0002"]
    station.state = "online"
    station.connectors[1].status = "Charging"
    screen = ANSI.sub("", TableView(io.StringIO()).render(simulation, width=100, height=30))
    assert "1/3 online" in screen and "seed 4" in screen
    row = next(line for line in screen.splitlines() if line.startswith("SIM-0002"))
    assert "2.0.1" in row and "online" in row and "1:Chrg" in row and "2:Avail" in row
    small = ANSI.sub("", TableView(io.StringIO()).render(simulation, width=100, height=8))
    assert "more" in small


def test_simulate_runs_for_its_duration_and_logs_one_line_per_event():
    out = io.StringIO()
    port = free_port()  # nothing listens there: the charge points keep trying
    call_command(
        "simulate",
        "--count",
        "2",
        "--ocpp",
        "mixed",
        "--url",
        f"ws://127.0.0.1:{port}/ocpp/",
        "--duration",
        "1",
        "--backoff",
        "0.1-0.2",
        "--seed",
        "5",
        "--view",
        "log",
        stdout=out,
    )
    text = out.getvalue()
    assert "Simulating 2 charge point(s) (1.6, 2.0.1)" in text and "seed 5" in text
    assert re.search(r"SIM-0001 connection: cannot connect .*retrying in 0\.\d s", text)
    assert "2 charge point(s), 0 sessions" in text and "Seed 5." in text


@pytest.mark.parametrize(
    "args",
    [["--ocpp", "3.0"], ["--drop", "1.5"], ["--connectors", "0"], ["--url", "http://x/"], ["--session-seconds", "9-3"], ["--ids", "A,A"]],
)
def test_simulate_refuses_bad_options(args):
    with pytest.raises(CommandError):
        call_command("simulate", *args, "--duration", "1", stdout=io.StringIO())


@pytest.mark.django_db
def test_demo_setup_creates_the_demo_data_once():
    out = io.StringIO()
    call_command("demo_setup", stdout=out)
    password = re.search(r"Password:\s+(\S+)", out.getvalue()).group(1)
    admin = get_user_model().objects.get(username="admin")
    assert admin.is_superuser and admin.is_staff and admin.check_password(password)
    assert "http://localhost:8000/admin/" in out.getvalue() and "API token:" in out.getvalue()
    assert sorted(IdTag.objects.values_list("id_tag", flat=True)) == [f"DEMO-TAG-{n}" for n in range(1, 6)]
    assert dict(ChargePoint.objects.values_list("id", "ocpp_version")) == {"DEMO-CP-1": "1.6", "DEMO-CP-2": "2.0.1", "DEMO-CP-3": "1.6"}

    again = io.StringIO()
    call_command("demo_setup", stdout=again)
    assert "Password:     unchanged" in again.getvalue() and "(existed)" in again.getvalue()
    admin.refresh_from_db()
    assert admin.check_password(password)
    assert IdTag.objects.count() == 5 and ChargePoint.objects.count() == 3

    call_command("demo_setup", "--password", "s3cret-demo", stdout=io.StringIO())
    admin.refresh_from_db()
    assert admin.check_password("s3cret-demo")


@pytest.mark.django_db
def test_demo_setup_gives_each_demo_charge_point_a_password_shown_once():
    from chargepoints import security

    out = io.StringIO()
    call_command("demo_setup", stdout=out)
    printed = dict(re.findall(r"^\s+(DEMO-CP-\d) ([0-9a-f]{40})$", out.getvalue(), re.MULTILINE))
    assert set(printed) == {"DEMO-CP-1", "DEMO-CP-2", "DEMO-CP-3"}
    for charge_point in ChargePoint.objects.all():
        assert security.password_matches(printed[charge_point.pk], charge_point.password_hash)

    again = io.StringIO()
    call_command("demo_setup", stdout=again)
    assert "Charge point passwords: unchanged" in again.getvalue()
    assert not re.search(r"DEMO-CP-\d [0-9a-f]{40}", again.getvalue())

    fresh = io.StringIO()
    call_command("demo_setup", "--new-charge-point-passwords", stdout=fresh)
    renewed = dict(re.findall(r"^\s+(DEMO-CP-\d) ([0-9a-f]{40})$", fresh.getvalue(), re.MULTILINE))
    assert set(renewed) == set(printed) and not set(renewed.values()) & set(printed.values())
    charge_point = ChargePoint.objects.get(pk="DEMO-CP-2")
    assert security.password_matches(renewed["DEMO-CP-2"], charge_point.password_hash)
