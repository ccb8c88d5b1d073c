"""`python -m csms.serve`'s choices before any process starts: how many workers, and which it refuses.

The workers themselves run in tests/faults/test_workers.py.
"""

import os
import subprocess
import sys

import pytest

from csms import serve


def test_it_runs_one_worker_per_core_with_redis_and_one_without():
    assert serve.default_workers("") == 1
    assert serve.default_workers("redis://127.0.0.1:6379/0") == len(os.sched_getaffinity(0))


def test_it_refuses_several_workers_without_redis_and_says_why():
    with pytest.raises(SystemExit, match="needs REDIS_URL"):
        serve.check_workers(2, redis_url="", database_engine="django.db.backends.postgresql", tls=False)


def test_it_warns_about_several_workers_on_sqlite():
    warning = serve.check_workers(2, redis_url="redis://x", database_engine="django.db.backends.sqlite3", tls=False)
    assert "SQLite" in warning
    assert serve.check_workers(2, redis_url="redis://x", database_engine="django.db.backends.postgresql", tls=False) is None
    assert serve.check_workers(1, redis_url="", database_engine="django.db.backends.sqlite3", tls=False) is None


def test_it_refuses_no_workers_and_tls_with_several():
    with pytest.raises(SystemExit, match="1 or more"):
        serve.check_workers(0, redis_url="redis://x", database_engine="postgresql", tls=False)
    with pytest.raises(SystemExit, match="TLS"):
        serve.check_workers(2, redis_url="redis://x", database_engine="postgresql", tls=True)


def test_it_takes_its_own_options_out_of_daphnes():
    assert serve._take_option(["-b", "0.0.0.0", "--workers=3", "-p", "80"], ("--workers",)) == ("3", ["-b", "0.0.0.0", "-p", "80"])
    assert serve._take_option(["--port", "1", "-v", "2", "-p", "80"], ("-p", "--port")) == ("80", ["-v", "2"])


def test_the_listening_sockets_share_one_port():
    sockets = serve.listening_sockets("127.0.0.1", 0, 3)
    try:
        assert len({s.getsockname() for s in sockets}) == 1
    finally:
        for s in sockets:
            s.close()


def test_the_command_line_refuses_two_workers_on_the_in_memory_layer():
    env = {**os.environ, "REDIS_URL": ""}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    result = subprocess.run(
        [sys.executable, "-m", "csms.serve", "--workers", "2", "-p", "0"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert "--workers 2 needs REDIS_URL" in result.stderr
