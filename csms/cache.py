"""One instance of the default cache per process, for counters touched on every request or connection.

Django's `django.core.cache.cache` is one instance per thread and, in async
code, per context (asgiref `Local`): every HTTP request and every WebSocket
connection gets its own, and with Redis (`REDIS_URL`) each instance has its
own connection pool, so its own TCP connection to Redis. For the API
throttles, the API's failed-token counters and the charge points'
failed-authentication counters that is a Redis connect per API request and a
Redis client held per connected charge point (a 10,000 boot storm ran Redis
out of clients). `shared()` is created once; redis-py's pool and
Django's LocMemCache are thread-safe. Its calls are blocking I/O: call them
from sync code or a thread, not the event loop.
"""

from __future__ import annotations

import functools

from django.core.cache import BaseCache, caches


@functools.cache
def shared() -> BaseCache:
    """The process's instance of CACHES["default"] (same backend and location as `cache`, so the same counters)."""
    return caches.create_connection("default")
