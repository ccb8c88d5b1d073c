"""How a delivery is signed, and how a receiver checks it."""

from __future__ import annotations

import hashlib
import hmac


def signature(*, secret: str, timestamp: int, body: bytes) -> str:
    """`X-CSMS-Signature` of `body` sent at `timestamp` (Unix seconds): "sha256=" + hex HMAC-SHA256 of "<timestamp>.<body>".

    Receivers recompute it with their subscription's secret, compare in
    constant time, and refuse timestamps too far from their clock (replays).
    """
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(*, secret: str, timestamp: int, body: bytes, header: str) -> bool:
    """Whether `header` is the right signature of `body` at `timestamp`."""
    return hmac.compare_digest(signature(secret=secret, timestamp=timestamp, body=body), header)
