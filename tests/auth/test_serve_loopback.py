"""With nothing configured the app listens on 127.0.0.1 only: `curator serve` by default, and a plain
`streamlit run app.py` through .streamlit/config.toml. Checked on the real server: its listening
sockets (psutil) and a connection through the machine's own non-loopback address, which must fail.
"""

from __future__ import annotations

import importlib.util
import ipaddress
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

REPO = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("browser_support", REPO / "tests" / "browser" / "browser_support.py")
bs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bs)

pytestmark = pytest.mark.slow


def _external_addresses() -> list[str]:
    """This machine's own IPv4/IPv6 addresses that are not loopback (or link-local)."""
    found = []
    for addrs in psutil.net_if_addrs().values():
        for a in addrs:
            if a.family not in (socket.AF_INET, socket.AF_INET6):
                continue
            ip = ipaddress.ip_address(a.address.split("%")[0])
            if not ip.is_loopback and not ip.is_link_local:
                found.append(str(ip))
    return found


def _listening(pid: int, port: int) -> set[str]:
    procs = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    return {c.laddr.ip for p in procs for c in p.net_connections(kind="inet")
            if c.status == psutil.CONN_LISTEN and c.laddr.port == port}


def _wait_healthy(proc: subprocess.Popen, port: int, log: Path, timeout: float = 60.0) -> None:
    deadline = time.time() + timeout
    while True:
        try:
            if urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1).read() == b"ok":
                return
        except OSError:
            if proc.poll() is not None or time.time() > deadline:
                pytest.fail(f"the server did not start: {log.read_text()[-2000:]}")
            time.sleep(0.25)


@pytest.mark.parametrize("how", ["curator serve", "streamlit run app.py"])
def test_the_app_listens_on_loopback_only(tmp_path, how):
    port = bs.free_port()
    db = bs.appdata.build(tmp_path / "serve.duckdb", signals=False)
    argv = ([sys.executable, "-m", "curator", "serve", "--db", str(db), "--port", str(port)] if how == "curator serve"
            else [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port)])
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMLIT_")}
    with open(tmp_path / "server.log", "w") as log:
        proc = subprocess.Popen(argv, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                env={**env, "CURATOR_DB": str(db), "PYTHONPATH": str(REPO)})
    try:
        _wait_healthy(proc, port, tmp_path / "server.log")
        assert _listening(proc.pid, port) == {"127.0.0.1"}
        external = _external_addresses()
        for ip in external:
            family = socket.AF_INET6 if ":" in ip else socket.AF_INET
            with socket.socket(family, socket.SOCK_STREAM) as s, pytest.raises(OSError):
                s.settimeout(3)
                s.connect((ip, port))
        if not external:
            pytest.skip("no non-loopback address on this machine to try (the socket check above passed)")
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


def _start_serve(tmp_path: Path, *extra: str) -> tuple[subprocess.Popen, int, Path]:
    port = bs.free_port()
    db = bs.appdata.build(tmp_path / "serve.duckdb", signals=False)
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMLIT_")}
    log = open(tmp_path / "server.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "curator", "serve", "--db", str(db), "--port", str(port), *extra],
                            cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                            env={**env, "HOME": str(tmp_path), "PYTHONPATH": str(REPO)})
    return proc, port, db


def test_serve_refuses_a_network_address_without_login(tmp_path):
    proc, _, _ = _start_serve(tmp_path, "--address", "0.0.0.0")
    assert proc.wait(60) == 2
    out = (tmp_path / "server.log").read_text()
    assert "no login and every visitor is an admin" in out and "--allow-no-login" in out


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_to_serve_stops_the_app_and_frees_port_and_database(tmp_path, sig):
    from curator.store import Store

    proc, port, db = _start_serve(tmp_path)
    try:
        _wait_healthy(proc, port, tmp_path / "server.log")
        urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10).read()  # the app opens the database
        children = psutil.Process(proc.pid).children(recursive=True)
        assert children, "curator serve runs the app in a child process"
        os.kill(proc.pid, sig)  # to curator serve only, as a service manager or `kill` does
        assert proc.wait(40) in (0, 128 + sig, -sig, 1)
        gone, alive = psutil.wait_procs(children, timeout=10)
        assert not alive, f"orphaned: {[p.cmdline() for p in alive]}"
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", port)) != 0, "the port is still taken"
        Store(db).close()  # the DuckDB lock is free
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
