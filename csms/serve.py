"""Start daphne as this project deploys it: `python -m csms.serve [daphne options]`.

    python -m csms.serve -b 0.0.0.0 -p 8000          # what `make run` does
    python -m csms.serve -p 8000 --ping-interval 30  # any daphne option; later ones win

Replaces itself with daphne (same process id) serving `csms.asgi:application`
with the options OCPP needs on top of daphne's defaults (DESIGN, trap 6):

- `--websocket_timeout -1`: daphne would otherwise close every WebSocket
  after 86,400 s; a charge point's connection is meant to stay up for months.
- `--websocket_connect_timeout 30`: daphne refuses a handshake the application
  has not accepted within 5 s, which during a boot storm (a restart, a site
  power cut) turns a queue of connects into failed ones that come back.
  Charge points wait about 30 s for a handshake themselves.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

APPLICATION = "csms.asgi:application"
DAPHNE_OPTIONS = ("--websocket_timeout", "-1", "--websocket_connect_timeout", "30")


def daphne_argv(*options: str) -> list[str]:
    """The daphne command line: the executable beside this Python, our options, then `options`, then the app."""
    return [str(Path(sys.executable).parent / "daphne"), *DAPHNE_OPTIONS, *options, APPLICATION]


def main() -> None:
    """Exec daphne with `daphne_argv(*sys.argv[1:])`; does not return. Raises OSError when daphne is missing."""
    argv = daphne_argv(*sys.argv[1:])
    os.execv(argv[0], argv)


if __name__ == "__main__":
    main()
