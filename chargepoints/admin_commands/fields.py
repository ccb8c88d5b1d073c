"""Widgets and fields of the command forms: pickers of a charge point's rows, in its version's words.

They collect input; checking it is the operations' input serializers' job.
"""

from __future__ import annotations

from django import forms
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from transactions.models import IdTag

from .. import ocpp
from ..models import ChargePoint, OcppVersion
from ..operations import inputs

# Datalists are suggestions: past this many rows typing the value is faster
# than scrolling, and the page stays light for large fleets of id tags.
MAX_SUGGESTIONS = 500


def enum_choices(values, *, blank: bool = False) -> list[tuple[str, str]]:
    """Form choices from str values; `blank` adds "—" first."""
    choices = [(str(v), str(v)) for v in values]
    return [("", "—")] + choices if blank else choices


def compact(**fields) -> dict:
    """`fields` without the unset ones (None, "" or []); 0 and False are values and stay."""
    return {k: v for k, v in fields.items() if v is not None and v != "" and v != []}


class DatalistInput(forms.TextInput):
    """A text input suggesting `options` ((value, label) pairs) through a <datalist>; any text is accepted."""

    def __init__(self, options=(), attrs=None):
        super().__init__(attrs)
        self.options = list(options)

    def render(self, name, value, attrs=None, renderer=None):
        attrs = dict(attrs or {})
        list_id = f"{attrs.get('id') or 'id_' + name}_options"
        attrs["list"] = list_id
        attrs.setdefault("autocomplete", "off")
        field = super().render(name, value, attrs, renderer)
        options = format_html_join("", '<option value="{}">{}</option>', self.options)
        return format_html('{}<datalist id="{}">{}</datalist>', field, list_id, options)


class DateTimeLocalInput(forms.DateTimeInput):
    """The browser's own date and time picker; Django reads its "YYYY-MM-DDTHH:MM" as ISO 8601."""

    input_type = "datetime-local"

    def __init__(self, attrs=None):
        super().__init__(attrs, format="%Y-%m-%dT%H:%M")


class OptionalJSONField(forms.JSONField):
    """A JSON object typed by the operator; left empty it is None and shows empty again, not "null"."""

    def prepare_value(self, value):
        return "" if value is None else super().prepare_value(value)

    def bound_data(self, data, initial):
        return None if data in self.empty_values else super().bound_data(data, initial)


def datetime_field(label: str, *, required: bool = False, help_text: str = "") -> forms.DateTimeField:
    """A date and time typed in the operator's time zone (TIME_ZONE); the operation sends it as UTC."""
    zone = timezone.get_current_timezone_name()
    return forms.DateTimeField(
        label=label,
        required=required,
        widget=DateTimeLocalInput(),
        help_text=" ".join(filter(None, [help_text, f"In {zone}; sent as UTC."])),
    )


def id_tag_field(label: str, *, version: str, required: bool = True, help_text: str = "") -> forms.CharField:
    """An id tag as long as `version` allows (1.6 CiString20, 2.0.1 idToken 36), suggesting the id tags table."""
    max_length = ocpp.dialect(version).operations.ID_TAG_MAX_LENGTH
    tags = IdTag.objects.order_by("id_tag").values_list("id_tag", "status")[:MAX_SUGGESTIONS]
    return forms.CharField(
        label=label,
        max_length=max_length,
        required=required,
        widget=DatalistInput(options=tags),
        help_text=help_text or f"Pick a known id tag or type any (at most {max_length} characters).",
    )


def choice_or_integer(label: str, choices: list[tuple[str, str]], *, required: bool = True, help_text: str = ""):
    """Pick from `choices` (int values) when there are any, else type the number."""
    if not choices:
        return forms.IntegerField(label=label, required=required, min_value=0, help_text=help_text)
    if not required:
        choices = [("", "—")] + choices
    return forms.TypedChoiceField(label=label, choices=choices, coerce=int, empty_value=None, required=required, help_text=help_text)


def location_field(help_text: str) -> forms.CharField:
    return forms.CharField(max_length=512, widget=forms.TextInput(attrs={"size": 80}), help_text=help_text)


def retries_fields() -> dict:
    return {
        "retries": forms.IntegerField(required=False, min_value=0, help_text="How often to retry; empty: the charge point decides."),
        "retry_interval_s": forms.IntegerField(label="retry interval", required=False, min_value=0, help_text="Seconds between retries."),
    }


def evse_field(charge_point: ChargePoint, *, required: bool = True, whole: bool = True, help_text: str = "") -> forms.Field:
    """Pick one of the charge point's known EVSEs (1.6: connectors); free entry while it has reported none.

    `whole` offers 0, the charge point as a whole. The cleaned value is an
    int, or None when left empty.
    """
    version = charge_point.version
    label = "connector" if version == OcppVersion.V16 else "EVSE"
    evses: dict[int, list] = {}
    for connector in charge_point.connectors.all():
        evses.setdefault(connector.evse_id, []).append(connector)
    if not any(evse_id > 0 for evse_id in evses):
        return forms.IntegerField(
            label=label,
            required=required,
            min_value=0 if whole else 1,
            help_text=" ".join(filter(None, [help_text, "0 is the whole charge point." if whole else ""])),
        )

    def state(evse_id: int) -> str:
        rows = evses.get(evse_id, [])
        if version == OcppVersion.V16 or evse_id == 0:
            return rows[0].status if rows and rows[0].status else "status unknown"
        return ", ".join(f"connector {c.connector_id}: {c.status or '?'}" for c in rows) or "status unknown"

    choices = [("", "—")] if not required else []
    if whole:
        choices.append(("0", "0 — whole charge point" + (f" ({state(0)})" if 0 in evses else "")))
    choices += [(str(evse_id), f"{evse_id} — {state(evse_id)}") for evse_id in sorted(evses) if evse_id > 0]
    return forms.TypedChoiceField(label=label, choices=choices, coerce=int, empty_value=None, required=required, help_text=help_text)


def connector_in_evse_field(help_text: str = "") -> forms.IntegerField:
    """A connector within the EVSE (OCPP 2.0.1 only)."""
    return forms.IntegerField(
        label="connector", required=False, min_value=1, help_text=help_text or "A connector of the EVSE; empty: all of it."
    )


def purpose_choices(version: str, *, blank: bool = False) -> list[tuple[str, str]]:
    """Neutral purposes, each labelled with the version's word (ChargePointMaxProfile in 1.6)."""
    names = [inputs.STATION_MAX_PROFILE, "TxDefaultProfile", "TxProfile"]
    words = ocpp.dialect(version).operations.PURPOSES
    choices = [(name, words.get(name, name)) for name in names]
    return [("", "—")] + choices if blank else choices
