"""The tools around the server (simulator/, bench/) run without Django and without the server's apps.

They are imported in a fresh interpreter, without DJANGO_SETTINGS_MODULE, and
the modules loaded are checked: a stray import of the apps would make the
simulator need a configured project to drive a CSMS it only talks to over
WebSockets.
"""

import json
import os
import subprocess
import sys

import pytest

from bench.deployment import REPO

SERVER_SIDE = {"django", "rest_framework", "channels", "daphne", "csms", "chargepoints", "transactions", "tests"}


@pytest.mark.parametrize(
    "modules",
    [
        ["simulator", "simulator.runner", "simulator.station16", "simulator.station201", "simulator.view"],
        ["bench.__main__", "bench.deployment"],
    ],
    ids=["simulator", "bench"],
)
def test_the_tool_imports_nothing_of_the_server(modules):
    code = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    loaded = set(json.loads(result.stdout.strip().splitlines()[-1]))
    assert loaded & SERVER_SIDE == set()
