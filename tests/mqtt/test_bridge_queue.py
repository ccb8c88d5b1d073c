"""The bridge's queue (chargepoints/mqtt/bridge.py): publishing never holds up a session."""

from __future__ import annotations

import time

from chargepoints.mqtt.bridge import Bridge


async def test_a_full_queue_drops_frames_and_counts_them_without_waiting():
    # Nothing listens on port 9: the publisher never connects, so nothing drains the queue.
    bridge = Bridge(url="mqtt://127.0.0.1:9", queue_size=2)
    started = time.monotonic()
    try:
        for n in range(5):
            bridge.frame("CP-1", "1.6", "in", f'[2,"{n}","Heartbeat",{{}}]')
        elapsed = time.monotonic() - started
    finally:
        await bridge.stop()

    assert elapsed < 0.05
    assert bridge.stats() == {"connected": False, "queued": 2, "published": 0, "dropped": 3}
