"""Filter pieces the API's FilterSets share."""

from __future__ import annotations

import django_filters
from django_filters.fields import ChoiceField


class CaseInsensitiveChoiceField(ChoiceField):
    """A choice given in any case, as its value ("answered") or its label ("Answered"), cleans to the value."""

    def to_python(self, value):
        value = super().to_python(value)
        if not value:
            return value
        folded = value.casefold()
        for key, label in self.choices:
            if folded in (str(key).casefold(), str(label).casefold()):
                return key
        return value


class CaseInsensitiveChoiceFilter(django_filters.ChoiceFilter):
    """A ChoiceFilter that takes a choice's value or its label, whatever the case; anything else is a 400 naming the parameter."""

    field_class = CaseInsensitiveChoiceField
