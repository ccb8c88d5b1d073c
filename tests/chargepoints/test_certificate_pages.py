"""Issued certificates where operators and integrators look: the charge point's admin page, the admin list, the API."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from chargepoints import pki, services
from chargepoints.models import Certificate, ChargePoint, InstalledCertificate
from tests.conftest import make_csr
from tests.users import user_with_role

pytestmark = pytest.mark.django_db
URL = "/api/v1/certificates/"


@pytest.fixture
def issued(charge_point_ca, settings):
    """CP-1 with an installed certificate ending in 10 days (renewal due) and CP-2 with a fresh one."""
    settings.OCPP_CERTIFICATE_RENEWAL_DAYS = 30
    ChargePoint.objects.create(id="CP-1")
    ChargePoint.objects.create(id="CP-2")
    ending = services.certificate_sign(charge_point_id="CP-1", csr=make_csr("CP-1")[0])
    services.certificate_answered(charge_point_id="CP-1", chain_pem=ending.chain_pem, accepted=True)
    Certificate.objects.filter(pk=ending.pk).update(not_after=timezone.now() + timedelta(days=10))
    fresh = services.certificate_sign(charge_point_id="CP-2", csr=make_csr("CP-2")[0])
    return Certificate.objects.get(pk=ending.pk), fresh


def test_the_charge_point_page_shows_its_certificates_with_their_end_and_renewal_due(admin_client, issued):
    ending, _ = issued
    InstalledCertificate.objects.create(
        charge_point_id="CP-1",
        certificate_type="CSMSRootCertificate",
        subject="CN=Example root",
        **{k: v for k, v in services._hash_fields(pki.hash_data(pki.load_certificates(ending.pem)[0])).items()},
    )
    html = admin_client.get(reverse("admin:chargepoints_chargepoint_change", args=["CP-1"])).content.decode()

    assert ending.serial_number in html and "installed" in html and "renewal due" in html
    assert "CN=Example root" in html and "CSMSRootCertificate" in html


def test_the_admin_lists_every_issued_certificate(admin_client, issued):
    ending, fresh = issued
    html = admin_client.get(reverse("admin:chargepoints_certificate_changelist")).content.decode()
    assert ending.serial_number in html and fresh.serial_number in html
    assert html.count("renewal due") == 1


def test_the_api_lists_a_charge_points_certificates_read_only(issued):
    ending, _ = issued
    api = APIClient()
    api.force_authenticate(user_with_role("viewer", "viewer"))

    body = api.get(URL, {"charge_point": "CP-1"}).json()

    assert body["count"] == 1
    [row] = body["results"]
    assert (row["charge_point"], row["status"], row["serial_number"], row["renewal_due"]) == (
        "CP-1",
        "installed",
        ending.serial_number,
        True,
    )
    assert row["fingerprint_sha256"] == pki.fingerprint(pki.load_certificates(row["pem"])[0])
    assert api.get(URL, {"status": "issued"}).json()["count"] == 1
    assert api.post(URL, {}).status_code == 403  # a viewer may not add; nobody may (read-only):
    api.force_authenticate(get_user_model().objects.create_superuser("root"))
    assert api.post(URL, {}).status_code == 405


def test_the_api_lists_certificates_only_to_users_who_may_view_them(issued):
    driver = APIClient()
    driver.force_authenticate(get_user_model().objects.create_user("driver", is_staff=False))
    assert APIClient().get(URL).status_code == 401
    assert driver.get(URL).status_code == 403
