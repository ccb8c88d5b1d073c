"""A real nginx ending TLS in front of a deployment's daphne, as README.md tells operators to run it.

    with nginx_proxy(tmp_path, upstream_port=server.port, cert_file=crt, key_file=key) as port:
        url = f"wss://localhost:{port}/ocpp/CP-1"

The configuration (`nginx_config`) is the README's: wss → ws upstream,
X-Forwarded-For / X-Forwarded-Proto, and the client certificate requested
(`ssl_verify_client optional_no_ca`) and forwarded URL-encoded in
X-SSL-Client-Cert. nginx runs in the foreground (`daemon off`) from a
directory of its own and is stopped on leaving the block.

nginx missing: the test fails when the CI environment variable is set
(.ci/run installs it) and is skipped otherwise.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from bench.deployment import LOOPBACK, free_port, tail

CLIENT_CERT_HEADER = "X-SSL-Client-Cert"


def nginx_config(*, directory: Path, port: int, upstream_port: int, cert_file: Path, key_file: Path) -> str:
    """An nginx.conf ending TLS on `port` and proxying OCPP WebSockets and HTTP to daphne on `upstream_port`."""
    user = "user root;\n" if os.geteuid() == 0 else ""  # workers must read the test's private directory
    return f"""{user}worker_processes 1;
pid {directory}/nginx.pid;
error_log {directory}/error.log info;
events {{ worker_connections 256; }}
http {{
    access_log {directory}/access.log;
    client_body_temp_path {directory}/client_body;
    proxy_temp_path {directory}/proxy;
    fastcgi_temp_path {directory}/fastcgi;
    uwsgi_temp_path {directory}/uwsgi;
    scgi_temp_path {directory}/scgi;

    map $http_upgrade $connection_upgrade {{
        default upgrade;
        ''      close;
    }}

    server {{
        listen {LOOPBACK}:{port} ssl;
        ssl_certificate     {cert_file};
        ssl_certificate_key {key_file};
        ssl_protocols TLSv1.2 TLSv1.3;
        # Security profile 3: ask for a client certificate, let the CSMS judge it.
        ssl_verify_client optional_no_ca;

        location / {{
            proxy_pass http://{LOOPBACK}:{upstream_port};
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header {CLIENT_CERT_HEADER} $ssl_client_escaped_cert;
            proxy_read_timeout 7d;
            proxy_send_timeout 7d;
        }}
    }}
}}
"""


def nginx_executable() -> str:
    """The nginx binary on PATH (or /usr/sbin); fails the test without one when CI is set, skips it otherwise."""
    found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")
    if found:
        return found
    if os.environ.get("CI"):
        pytest.fail("nginx is not installed (.ci/run installs it with apt-get)", pytrace=False)
    pytest.skip("nginx is not installed (apt-get install nginx); CI fails instead of skipping")


@contextmanager
def nginx_proxy(tmp: Path, *, upstream_port: int, cert_file: Path, key_file: Path, timeout_s: float = 10) -> Iterator[int]:
    """nginx ending TLS on a free loopback port (yielded) in front of daphne on `upstream_port`; stopped on exit.

    Fails the test with nginx's error log when it exits or does not listen within `timeout_s` seconds.
    """
    executable = nginx_executable()
    directory = tmp / f"nginx-{upstream_port}"
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config = directory / "nginx.conf"
    config.write_text(nginx_config(directory=directory, port=port, upstream_port=upstream_port, cert_file=cert_file, key_file=key_file))
    log = (directory / "stderr.log").open("w")
    process = subprocess.Popen(
        [executable, "-p", str(directory), "-c", str(config), "-g", "daemon off;"],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if process.poll() is not None:
                pytest.fail(f"nginx exited with {process.returncode}:\n{_logs(directory)}", pytrace=False)
            try:
                socket.create_connection((LOOPBACK, port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"nginx did not listen on {port} within {timeout_s:g} s:\n{_logs(directory)}", pytrace=False)
                time.sleep(0.1)
        yield port
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _logs(directory: Path) -> str:
    return "\n".join(
        tail(path.read_text(errors="replace")) for path in (directory / "stderr.log", directory / "error.log") if path.exists()
    )
