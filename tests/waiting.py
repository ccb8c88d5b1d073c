"""Waiting in tests for what another process or thread does in its own time."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def eventually(check: Callable[[], T], timeout: float = 10.0, interval: float = 0.05) -> T:
    """Call `check` every `interval` seconds until it returns something truthy, and return that.

    An AssertionError from `check` counts as "not yet"; after `timeout`
    seconds the last one is raised, or AssertionError("not true within …")
    if `check` was returning something falsy.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
            if result:
                return result
        except AssertionError:
            if time.monotonic() > deadline:
                raise
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout} s: {getattr(check, '__name__', check)}")
        time.sleep(interval)
