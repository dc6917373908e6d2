"""`explorer pipeline` and `explorer serve` as processes, against a real Prefect server started
exactly as README.md writes it (one module fixture: about 25 s on 2 cores with a fresh database).
The processes get no PREFECT_* setting from this test process (flows/__init__.py sets analytics
off in it): what they need is set here, so the README's command is shown to work as written."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
from flows_helpers import REPO, free_port, make_project, make_tiny_project

BIN = Path(sys.executable).parent
FLOW = "tinker-explorer-pipeline"


def readme_command(prefix: str) -> str:
    """The README's command line that starts with `prefix`, without its comment."""
    lines = [line.split("  #")[0].strip() for line in (REPO / "README.md").read_text().splitlines()]
    found = [line for line in lines if line.startswith(prefix)]
    assert len(found) == 1, found
    return found[0]


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "EXPLORER_", "MLFLOW_TRACKING"))}
    return env | {"PATH": f"{BIN}{os.pathsep}{env['PATH']}"} | extra


def get(url: str, timeout: float = 2.0) -> object:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.loads(r.read())


def wait_until(check, timeout: float, what: str) -> float:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        try:
            if check():
                return time.monotonic() - t0
        except OSError:
            pass
        time.sleep(0.3)
    pytest.fail(f"{what}: not within {timeout} s")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return not Path(f"/proc/{pid}/status").read_text().count("State:\tZ")


@dataclass
class Server:
    url: str
    home: Path
    env: dict[str, str]  # what a client of it needs: PREFECT_HOME, PREFECT_API_URL
    startup_seconds: float

    def start(self) -> float:
        """README's command, verbatim; the port comes from PREFECT_SERVER_API_PORT (its default
        source) and the database from PREFECT_HOME, so the test touches nothing of the user's."""
        env = {k: v for k, v in self.env.items() if k != "PREFECT_API_URL"}
        out = subprocess.run(["bash", "-c", readme_command("prefect server start")], env=env, capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stdout + out.stderr
        return wait_until(lambda: get(f"{self.url}/health") is True, 120, "the documented server answering /api/health")

    def stop(self) -> str:
        env = {k: v for k, v in self.env.items() if k != "PREFECT_API_URL"}
        return subprocess.run(["bash", "-c", readme_command("prefect server stop")], env=env, capture_output=True, text=True).stdout


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    home, port = tmp_path_factory.mktemp("prefect-home"), free_port()
    env = clean_env(PREFECT_HOME=str(home), PREFECT_SERVER_API_PORT=str(port), PREFECT_API_URL=f"http://127.0.0.1:{port}/api")
    srv = Server(env["PREFECT_API_URL"], home, env, 0.0)
    srv.startup_seconds = srv.start()
    yield srv
    srv.stop()
    assert not (home / "server.pid").exists()


def start_serve_in_background(srv: Server, tmp_path: Path, name: str, tag: str = "") -> tuple[int, Path]:
    """`explorer serve ... &` from a script, as a user would: bash starts it with SIGINT ignored."""
    log = tmp_path / f"{name}{tag}.log"
    env = srv.env | {"EXPLORER_PROJECT_ROOT": str(make_project(tmp_path / f"{name}{tag}"))}
    out = subprocess.run(
        ["bash", "-c", f"explorer serve --name {name} > {log} 2>&1 & echo $!"], env=env, capture_output=True, text=True, check=True
    )
    pid = int(out.stdout.strip())
    wait_until(lambda: get(f"{srv.url}/deployments/name/{FLOW}/{name}")["id"], 60, f"deployment {name} registered by serve")
    return pid, log


def test_the_documented_server_command_starts_a_healthy_server(server: Server):
    assert get(f"{server.url}/health") is True
    pid = int((server.home / "server.pid").read_text())
    assert alive(pid)
    print(f"documented server healthy after {server.startup_seconds:.1f} s")


@pytest.mark.parametrize("command", ["pipeline", "serve"])
def test_an_unreachable_api_is_one_line_within_10_s(tmp_path: Path, command: str):
    url = f"http://127.0.0.1:{free_port()}/api"  # nothing listens there
    env = clean_env(PREFECT_API_URL=url, PREFECT_HOME=str(tmp_path / "home"), EXPLORER_PROJECT_ROOT=str(make_project(tmp_path / "p")))
    t0 = time.monotonic()
    out = subprocess.run([str(BIN / "explorer"), command], env=env, capture_output=True, text=True, timeout=60)
    seconds = time.monotonic() - t0
    assert out.returncode == 1 and seconds < 10, (out.returncode, seconds)
    assert out.stdout == "" and len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert f"the Prefect API at {url} (PREFECT_API_URL) does not answer" in out.stderr
    print(f"explorer {command}: rc {out.returncode} in {seconds:.1f} s: {out.stderr.strip()}")


def test_serve_offers_typed_parameters_and_stops_on_sigint_started_with_ampersand(server: Server, tmp_path: Path):
    pid, log = start_serve_in_background(server, tmp_path, "form")
    dep = get(f"{server.url}/deployments/name/{FLOW}/form")
    props = dep["parameter_openapi_schema"]["properties"]
    stages = ["prepare", "baseline", "demos", "sft", "grpo", "evaluate", "report"]
    assert props["stages"]["items"]["enum"] == stages and props["stages"]["default"] == stages
    assert props["backend"]["enum"] == ["params.yaml", "local", "tinker"] and props["backend"]["default"] == "params.yaml"
    assert props["params_overrides"] == props["params_overrides"] | {"type": "object", "default": {}}
    assert all(p.get("type") and "description" in p for p in props.values()), props  # nothing the UI shows as type "None"
    assert not dep["paused"]

    os.kill(pid, signal.SIGINT)
    seconds = wait_until(lambda: not alive(pid), 30, "serve exiting on SIGINT")
    assert "paused deployment 'tinker-explorer-pipeline/form'" in log.read_text()
    assert get(f"{server.url}/deployments/name/{FLOW}/form")["paused"]
    print(f"serve stopped {seconds:.1f} s after SIGINT")
    pid, log = start_serve_in_background(server, tmp_path, "form", tag="-again")
    # serving the name again makes it active (the deployment exists already: wait for serve to update it)
    wait_until(lambda: not get(f"{server.url}/deployments/name/{FLOW}/form")["paused"], 60, "deployment active again")
    os.kill(pid, signal.SIGTERM)
    wait_until(lambda: not alive(pid), 30, "serve exiting on SIGTERM")
    assert get(f"{server.url}/deployments/name/{FLOW}/form")["paused"]


def test_two_pipeline_runs_at_once_one_refused_at_once(server: Server, tmp_path: Path):
    root = make_tiny_project(tmp_path / "proj")
    env = server.env | {"EXPLORER_PROJECT_ROOT": str(root), "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"}
    env["DVC_SITE_CACHE_DIR"] = str(tmp_path / "dvc-site")
    cmd = [str(BIN / "explorer"), "pipeline", "--stage", "baseline"]
    t0 = time.monotonic()
    procs = [subprocess.Popen(cmd, cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    ended: dict[int, float] = {}
    while len(ended) < 2:
        for i, p in enumerate(procs):
            if i not in ended and p.poll() is not None:
                ended[i] = time.monotonic() - t0
        time.sleep(0.05)
    outs = [p.communicate(timeout=120) for p in procs]
    codes = [p.returncode for p in procs]
    assert sorted(codes) == [0, 1], (codes, outs)
    winner, loser = codes.index(0), codes.index(1)
    message = outs[loser][1].strip()
    assert len(message.splitlines()) == 1 and message.startswith(f"error: the pipeline is already running in {root} (pid "), message
    assert ended[loser] < 5, ended  # at once, before Prefect starts
    summary = json.loads(outs[winner][0])
    assert {s: r["status"] for s, r in summary["stages"].items()} == {"prepare": "ran", "baseline": "ran"}
    assert (root / "reports" / "baseline" / "metrics.json").exists()
    print(f"refused after {ended[loser]:.1f} s: {message}; the other finished after {ended[winner]:.1f} s")


def test_serve_outlives_a_vanished_server_and_the_documented_stop_cleans_up(server: Server, tmp_path: Path):
    pid, log = start_serve_in_background(server, tmp_path, "orphan")
    server_pid = int((server.home / "server.pid").read_text())
    os.kill(server_pid, signal.SIGKILL)  # the server goes first, and leaves its PID file
    wait_until(lambda: not alive(server_pid), 10, "server gone")
    time.sleep(1)
    os.kill(pid, signal.SIGTERM)
    seconds = wait_until(lambda: not alive(pid), 30, "serve exiting after its server vanished")
    assert "could not pause deployment 'tinker-explorer-pipeline/orphan'" in log.read_text() or "did not answer" in log.read_text()
    print(f"serve stopped {seconds:.1f} s after SIGTERM with its server gone")
    assert (server.home / "server.pid").exists()
    assert "stale PID file" in server.stop()  # the documented stop cleans up after a dead server
    assert not (server.home / "server.pid").exists()
    print(f"documented server restarted, healthy after {server.start():.1f} s")
