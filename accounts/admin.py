"""Admin for API tokens: knox's (hashed; a new token is shown once, on creation), not the plain-text keys.

rest_framework.authtoken stays installed only so `manage.py tokens_migrate`
can read the tokens of older versions; its admin listed every key in plain
text to any staff user allowed to view tokens, so it is removed.
"""

from django.contrib import admin
from django.contrib.admin.exceptions import NotRegistered
from rest_framework.authtoken.models import TokenProxy

try:
    admin.site.unregister(TokenProxy)
except NotRegistered:  # pragma: no cover - depends on app order
    pass
