"""The one way the version packages file their functions: handlers, operation builders, answers."""

from __future__ import annotations

from collections.abc import Callable


def registrar(table: dict) -> Callable:
    """A decorator factory filing functions in `table` under a key, e.g. `on = registrar(HANDLERS)`.

    `@on("Heartbeat")` files the function under "Heartbeat"; keyword
    arguments become attributes of the function (`@builds("reset", message="Reset")`).
    """

    def on(key: str, **attributes) -> Callable:
        def register(fn: Callable) -> Callable:
            for name, value in attributes.items():
                setattr(fn, name, value)
            table[key] = fn
            return fn

        return register

    return on
