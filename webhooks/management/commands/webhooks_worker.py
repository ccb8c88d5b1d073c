"""`manage.py webhooks_worker`: send webhook deliveries from the outbox until SIGTERM/SIGINT."""

import signal
import threading

from django.core.management.base import BaseCommand

from webhooks import worker


class Command(BaseCommand):
    help = "Send pending webhook deliveries (signed POSTs, retried with backoff) until stopped. Run one or more beside the servers."

    def add_arguments(self, parser):
        parser.add_argument("--poll", type=float, default=1.0, help="seconds between outbox polls when idle (default 1)")
        parser.add_argument("--batch", type=int, default=50, help="deliveries claimed per pass (default 50)")
        parser.add_argument("--concurrency", type=int, default=4, help="requests in flight at once (default 4)")
        parser.add_argument("--once", action="store_true", help="one pass, then exit")

    def handle(self, *args, poll, batch, concurrency, once, **options):
        if once:
            self.stdout.write(f"{worker.run_once(batch=batch, concurrency=concurrency)} deliveries tried")
            return
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        self.stdout.write("webhooks worker started", ending="\n")
        self.stdout.flush()
        worker.run(stop=stop, poll_s=poll, batch=batch, concurrency=concurrency)
