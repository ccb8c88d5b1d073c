"""A tiny webhook receiver for tests: an HTTP server on a free loopback port that records each POST."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Receiver:
    """Records (headers with lower-case names, body) of every POST; answers `status` (with `location`, if given) after `delay` seconds.

    Use as a context manager. A GET is recorded in `gets` and answered 200.
    """

    def __init__(self, status: int = 200, delay: float = 0.0, location: str | None = None):
        self.status, self.delay, self.location = status, delay, location
        self.gets: list[str] = []
        self.received: list[tuple[dict, bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                time.sleep(receiver.delay)
                receiver.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(receiver.status)
                if receiver.location:
                    self.send_header("Location", receiver.location)
                self.end_headers()

            def do_GET(self):  # noqa: N802 - http.server's name
                receiver.gets.append(self.path)
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def events(self) -> dict[str, dict]:
        """The events received, deduplicated by event id (as a receiver should), by id."""
        return {json.loads(body)["id"]: json.loads(body) for _, body in self.received}

    def __enter__(self):
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
