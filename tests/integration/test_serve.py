"""`mingbai serve` as a user starts it: a process of its own, its own logging (masked) and
uvicorn's access log. What it prints must be whole lines, masked, and never a logging error."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.conftest import TEST_SEALING_KEY
from tests.helpers import free_port


def test_the_server_logs_every_request_masked_and_without_errors(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'mingbai.db'}"
    mingbai = [sys.executable, "-m", "mingbai.cli.main"]
    env = {**os.environ, "MINGBAI_SECRET_KEYS": TEST_SEALING_KEY, "MINGBAI_DATABASE_URL": db}
    for step in (["db", "upgrade"], ["seed", "demo"]):
        subprocess.run([*mingbai, *step], env=env, check=True, capture_output=True)
    port = free_port()
    server = subprocess.Popen(
        [*mingbai, "--demo", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{base}/login", timeout=1)
                break
            except httpx.TransportError:
                assert server.poll() is None and time.monotonic() < deadline, "the server did not start"
                time.sleep(0.2)
        assert httpx.get(f"{base}/handset", params={"msisdn": "13800138000"}).status_code == 200
        assert httpx.get(f"{base}/no/such/page/13900139000").status_code == 404
    finally:
        server.send_signal(signal.SIGINT)
        out, _ = server.communicate(timeout=30)
    assert "Logging error" not in out and "Traceback" not in out, out
    assert '"GET /handset?msisdn=138****8000 HTTP/1.1" 200' in out, out
    assert "/no/such/page/139****9000" in out, out
    assert "13800138000" not in out and "13900139000" not in out
