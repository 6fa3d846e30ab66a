"""Every search study opens in optuna-dashboard (the README's command), served on loopback."""
import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from nasengine.search.arch_search import ArchSearch
from search_spaces.nb201 import NB201Space

SPACE = NB201Space()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str, deadline: float):
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return json.loads(response.read())
        except (urllib.error.URLError, ConnectionError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


@pytest.mark.slow
def test_dashboard_serves_a_finished_search_study(tmp_path):
    import optuna_dashboard  # noqa: F401  (part of the test extra: a missing one fails)

    db = tmp_path / "search.db"
    result = ArchSearch(SPACE, lambda a: float(len(set(a.values()))), "random", seed=0,
                        storage=db, study_name="nb201-random").run(12, progress=False)
    port = free_port()
    command = [str(Path(sys.executable).with_name("optuna-dashboard")), f"sqlite:///{db}",
               "--host", "127.0.0.1", "--port", str(port)]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base, deadline = f"http://127.0.0.1:{port}/api/studies", time.monotonic() + 90
        studies = get(base, deadline)["study_summaries"]
        assert [s["study_name"] for s in studies] == ["nb201-random"]
        detail = get(f"{base}/{studies[0]['study_id']}", deadline)
        served = [t for t in detail["trials"] if t["state"] == "Complete"]
        assert [t["values"][0] for t in served] == [t["score"] for t in result.trials]
        archs = [{a["key"]: a["value"] for a in t["user_attrs"]}["arch"] for t in served]
        assert archs == [t["arch"] for t in result.trials]
    finally:
        server.terminate()
        server.wait(timeout=30)
