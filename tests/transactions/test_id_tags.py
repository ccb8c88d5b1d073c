"""Id tag services and the local authorization lists built from the id tags table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError

from chargepoints.ocpp.v201 import operations as v201_operations
from transactions import selectors, services
from transactions.models import IdTag

pytestmark = pytest.mark.django_db


def test_id_tag_create_stores_the_id_token_type():
    tag = services.id_tag_create(id_tag="EMP-1", type="eMAID")

    tag.refresh_from_db()
    assert tag.type == "eMAID"


def test_id_tag_create_defaults_to_a_16_id_tag_without_type():
    tag = services.id_tag_create(id_tag="04A2B3C4D5")

    tag.refresh_from_db()
    assert tag.type == ""


def test_id_tag_update_changes_the_type():
    tag = services.id_tag_create(id_tag="EMP-1", type="eMAID")

    services.id_tag_update(tag=tag, data={"type": "ISO14443"})

    tag.refresh_from_db()
    assert tag.type == "ISO14443"


@pytest.mark.parametrize("token_type", ["Barcode", "central", "ISO 14443"])
def test_the_id_tag_services_reject_a_type_that_is_not_an_id_token_type(token_type):
    with pytest.raises(ValidationError) as exc:
        services.id_tag_create(id_tag="EMP-1", type=token_type)
    assert "type" in exc.value.message_dict
    assert not IdTag.objects.exists()

    tag = services.id_tag_create(id_tag="EMP-2", type="Central")
    with pytest.raises(ValidationError):
        services.id_tag_update(tag=tag, data={"type": token_type})
    tag.refresh_from_db()
    assert tag.type == "Central"


def local_list_201(since=None) -> list[dict]:
    """The localAuthorizationList a 2.0.1 SendLocalList carries (D01), empty when it leaves it out."""
    request = v201_operations.send_local_list(None, list_version=1, update_type="Full", since=since)
    return request.payload.get("localAuthorizationList", [])


def test_the_201_local_list_carries_id_tokens_with_their_type_and_info():
    group = services.id_tag_create(id_tag="FLEET", type="Central")
    services.id_tag_create(id_tag="A-CARD", type="ISO14443", parent=group)
    services.id_tag_create(id_tag="B-OLD", status="Blocked", expiry_date=datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC))

    assert local_list_201() == [
        {
            "idToken": {"idToken": "A-CARD", "type": "ISO14443"},
            "idTokenInfo": {"status": "Accepted", "groupIdToken": {"idToken": "FLEET", "type": "Central"}},
        },
        {
            "idToken": {"idToken": "B-OLD", "type": "Central"},
            "idTokenInfo": {"status": "Blocked", "cacheExpiryDateTime": "2030-01-02T03:04:05.000Z"},
        },
        {"idToken": {"idToken": "FLEET", "type": "Central"}, "idTokenInfo": {"status": "Accepted"}},
    ]
    assert local_list_201()[0]["idTokenInfo"] == selectors.id_token_info_for("A-CARD")


def test_the_201_local_list_since_a_moment_holds_only_the_id_tags_changed_after_it():
    services.id_tag_create(id_tag="OLD")
    IdTag.objects.filter(id_tag="OLD").update(updated_at=datetime(2025, 1, 1, tzinfo=UTC))
    services.id_tag_create(id_tag="NEW")

    since = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(seconds=1)

    assert [e["idToken"]["idToken"] for e in local_list_201(since=since)] == ["NEW"]
