"""The operators' admin for charge points and their history: what it shows and what it lets them change."""

from datetime import timedelta

import pytest
from django.contrib.admin import site
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from chargepoints import services
from chargepoints.models import (
    BootNotification,
    ChargePoint,
    DataTransfer,
    DiagnosticsStatusNotification,
    FirmwareStatusNotification,
    StatusNotification,
)

pytestmark = pytest.mark.django_db

HISTORY_MODELS = [
    BootNotification,
    StatusNotification,
    DataTransfer,
    FirmwareStatusNotification,
    DiagnosticsStatusNotification,
]


def url(model, view="changelist", *args):
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def report(charge_point_id, vendor="Acme", serial_number="SN-42", connectors=(("1", "Charging"), ("2", "Available"))):
    """Have `charge_point_id` report a boot, connector statuses and the rest of the history, as OCPP would."""
    services.boot_notification_create(
        charge_point_id=charge_point_id,
        vendor=vendor,
        model="Fast-1",
        serial_number=serial_number,
        firmware_version="1.2.3",
    )
    for connector_id, status in connectors:
        services.status_notification_create(
            charge_point_id=charge_point_id, connector_id=int(connector_id), status=status, error_code="NoError"
        )
    services.data_transfer_create(
        charge_point_id=charge_point_id, vendor_id="com.acme", message_id="hello", data="{}", status="Accepted"
    )
    services.firmware_status_create(charge_point_id=charge_point_id, status="Downloaded")
    services.diagnostics_status_create(charge_point_id=charge_point_id, status="Uploaded")


@pytest.fixture
def online_charge_point(charge_point):
    services.charge_point_connect(charge_point_id="CP-1", session_id="s1", ocpp_version="1.6", allow_unknown=False)
    report("CP-1")
    charge_point.refresh_from_db()
    return charge_point


def test_it_titles_the_admin_site_csms(admin_client):
    response = admin_client.get(reverse("admin:index"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "| CSMS</title>" in html
    assert '<a href="/admin/">CSMS</a>' in html


def test_it_lists_charge_points_with_online_state_reported_fields_and_connector_statuses(
    admin_client, online_charge_point
):
    ChargePoint.objects.create(id="CP-OFF")

    response = admin_client.get(url(ChargePoint))

    assert response.status_code == 200
    html = response.content.decode()
    assert "CP-1" in html and "CP-OFF" in html
    assert "Acme" in html and "Fast-1" in html and "1.2.3" in html
    assert "1: Charging, 2: Available" in html
    assert 'alt="True"' in html and 'alt="False"' in html  # online and offline icons


def test_it_shows_a_charge_point_that_stopped_talking_as_offline(admin_client, online_charge_point):
    ChargePoint.objects.filter(pk="CP-1").update(last_seen=timezone.now() - timedelta(days=1))

    html = admin_client.get(url(ChargePoint)).content.decode()

    assert 'alt="True"' not in html


@pytest.mark.parametrize(
    "query, shown, hidden",
    [
        ("q=Acme", "CP-1", "CP-2"),
        ("q=SN-42", "CP-1", "CP-2"),
        ("q=CP-2", "CP-2", "CP-1"),
        ("connected__exact=1", "CP-1", "CP-2"),
        ("connected__exact=0", "CP-2", "CP-1"),
        ("vendor=Other", "CP-2", "CP-1"),
        ("ocpp_version__exact=1.6", "CP-1", "CP-2"),
    ],
)
def test_it_searches_and_filters_charge_points(admin_client, online_charge_point, query, shown, hidden):
    ChargePoint.objects.create(id="CP-2")
    report("CP-2", vendor="Other", serial_number="SN-77")

    response = admin_client.get(f"{url(ChargePoint)}?{query}")

    assert response.status_code == 200
    html = response.content.decode()
    assert f">{shown}</a>" in html
    assert f">{hidden}</a>" not in html


def test_it_registers_a_charge_point_added_in_the_admin(admin_client):
    response = admin_client.post(url(ChargePoint, "add"), {"id": "CP-NEW", "description": "Car park, level 2"})

    assert response.status_code == 302
    cp = ChargePoint.objects.get(pk="CP-NEW")
    assert cp.description == "Car park, level 2"
    assert not cp.connected


def test_it_asks_only_identity_and_description_to_add_a_charge_point(admin_client):
    response = admin_client.get(url(ChargePoint, "add"))

    assert response.status_code == 200
    assert list(response.context["adminform"].form.fields) == ["id", "description"]


def test_it_refuses_an_identity_outside_ocpp_identifier_string(admin_client):
    response = admin_client.post(url(ChargePoint, "add"), {"id": "CP 1/#", "description": ""})

    assert response.status_code == 200
    assert "OCPP identifierString" in response.content.decode()
    assert not ChargePoint.objects.exists()


def test_it_refuses_to_register_an_identity_twice(admin_client, charge_point):
    response = admin_client.post(url(ChargePoint, "add"), {"id": "CP-1", "description": "again"})

    assert response.status_code == 200
    assert "already exists" in response.content.decode()
    assert ChargePoint.objects.get().description == ""


def test_it_shows_a_charge_point_with_connectors_and_links_to_its_history(admin_client, online_charge_point):
    response = admin_client.get(url(ChargePoint, "change", "CP-1"))

    assert response.status_code == 200
    html = response.content.decode()
    assert "Charging" in html and "Available" in html and "SN-42" in html
    assert f'{url(BootNotification)}?charge_point__id__exact=CP-1">boots' in html
    assert f'{url(StatusNotification)}?charge_point__id__exact=CP-1">status history' in html
    inline = response.context["inline_admin_formsets"][0]
    assert [form.original.connector_id for form in inline] == [1, 2]


def test_it_lets_operators_edit_only_the_description(admin_client, online_charge_point):
    response = admin_client.post(
        url(ChargePoint, "change", "CP-1"),
        {
            "id": "CP-RENAMED",
            "description": "Depot",
            "vendor": "Edited",
            "connected": "",
            "connectors-TOTAL_FORMS": "0",
            "connectors-INITIAL_FORMS": "0",
        },
    )

    assert response.status_code == 302
    online_charge_point.refresh_from_db()
    assert online_charge_point.description == "Depot"
    assert online_charge_point.vendor == "Acme"
    assert online_charge_point.connected
    assert not ChargePoint.objects.filter(pk="CP-RENAMED").exists()


def test_it_keeps_a_disconnect_that_lands_while_the_description_is_saved(rf, admin_user, online_charge_point):
    model_admin = site._registry[ChargePoint]
    request = rf.post("/")
    request.user = admin_user
    services.charge_point_disconnect(charge_point_id="CP-1", session_id="s1")

    online_charge_point.description = "Depot"  # loaded while still connected
    model_admin.save_model(request, online_charge_point, form=None, change=True)

    online_charge_point.refresh_from_db()
    assert online_charge_point.description == "Depot"
    assert not online_charge_point.connected


def test_it_never_overwrites_a_charge_point_registered_while_adding(rf, admin_user, online_charge_point):
    model_admin = site._registry[ChargePoint]
    request = rf.post("/")
    request.user = admin_user

    with pytest.raises(IntegrityError), transaction.atomic():
        model_admin.save_model(request, ChargePoint(id="CP-1", description="late"), form=None, change=False)

    online_charge_point.refresh_from_db()
    assert online_charge_point.vendor == "Acme" and online_charge_point.description == ""


@pytest.mark.parametrize("model", HISTORY_MODELS, ids=lambda m: m.__name__)
def test_it_shows_every_history_changelist_and_entry(admin_client, online_charge_point, model):
    rows = list(model.objects.all())

    listing = admin_client.get(url(model))
    entry = admin_client.get(url(model, "change", rows[0].pk))

    assert listing.status_code == 200 and entry.status_code == 200
    assert list(listing.context["cl"].result_list) == rows
    assert "CP-1" in listing.content.decode() and "CP-1" in entry.content.decode()


@pytest.mark.parametrize("model", HISTORY_MODELS, ids=lambda m: m.__name__)
def test_it_keeps_the_history_read_only(admin_client, online_charge_point, model):
    row = model.objects.first()

    assert admin_client.get(url(model, "add")).status_code == 403
    assert admin_client.post(url(model, "change", row.pk), {"status": "Edited"}).status_code == 403
    row.refresh_from_db()
    assert row.status != "Edited"


def test_it_filters_the_status_history_by_charge_point_status_and_error_code(admin_client, online_charge_point):
    ChargePoint.objects.create(id="CP-2")
    services.status_notification_create(
        charge_point_id="CP-2", connector_id=1, status="Faulted", error_code="GroundFailure"
    )

    by_cp = admin_client.get(f"{url(StatusNotification)}?charge_point__id__exact=CP-2")
    by_status = admin_client.get(f"{url(StatusNotification)}?status=Charging")
    by_error = admin_client.get(f"{url(StatusNotification)}?error_code=GroundFailure")
    by_search = admin_client.get(f"{url(StatusNotification)}?q=CP-2")

    assert [(n.charge_point_id, n.status) for n in by_cp.context["cl"].result_list] == [("CP-2", "Faulted")]
    assert [(n.charge_point_id, n.status) for n in by_status.context["cl"].result_list] == [("CP-1", "Charging")]
    assert [n.charge_point_id for n in by_error.context["cl"].result_list] == ["CP-2"]
    assert [n.charge_point_id for n in by_search.context["cl"].result_list] == ["CP-2"]


def test_it_lists_many_charge_points_in_a_bounded_number_of_queries(admin_client, django_assert_max_num_queries):
    for i in range(40):
        ChargePoint.objects.create(id=f"CP-{i:02}")
        report(f"CP-{i:02}")

    with django_assert_max_num_queries(8):
        response = admin_client.get(url(ChargePoint))

    assert response.status_code == 200
    assert response.content.decode().count("1: Charging, 2: Available") == 40
