"""benchmarks/run.py end to end, as far as this environment allows: the gru_py peer
always runs; PyTorch, ONNX Runtime and Keras are optional extras of the benchmark and,
when absent, must be reported as unavailable, not crash the run. The peers are driven
task by task over their stdin (--serve), which is what these runs exercise.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
RUN = BENCHMARKS / "run.py"
sys.path.insert(0, str(BENCHMARKS))

import host_state  # noqa: E402


def _run(tmp_path, *options):
    out = tmp_path / "results.json"
    proc = subprocess.run([sys.executable, str(RUN), "--quick", "--json", str(out), *options],
                          check=False, cwd=tmp_path, capture_output=True, text=True,
                          timeout=600)
    rows = json.loads(out.read_text())["rows"] if out.exists() else []
    return proc, {(r["task"], r["peer"]): r for r in rows}


def test_two_tasks_on_every_peer(tmp_path):
    proc, rows = _run(tmp_path, "--scenarios", "S3.forward,S3.step_calls")
    assert proc.returncode == 0, proc.stderr[-3000:]
    for task in ("S3.forward", "S3.step_calls"):
        ours = rows[(task, "gru_py")]
        assert ours["status"] == "ok", ours
        assert ours["median_s"] > 0 and ours["runs"] >= 3
        for peer in ("torch", "onnxruntime", "keras"):
            assert rows[(task, peer)]["status"] in ("ok", "unavailable"), rows[(task, peer)]
    # one process per peer served both tasks
    assert proc.stderr.count("== gru_py:") == 1
    # the host's state around gru_py's turns, from the probe the run built with cc
    if shutil.which(os.environ.get("CC", "cc")):
        for task in ("S3.forward", "S3.step_calls"):
            host = rows[(task, "gru_py")]["host"]
            assert host is not None and all(rate > 0 for rate in host["gflops"]), host
            assert 0 < host["balance"] <= 1, host
            assert len(host["round_trip_ns"]) == len(host["gflops"]) - 1, host


def test_a_peer_that_cannot_start_in_time_is_an_error_row(tmp_path):
    proc, rows = _run(tmp_path, "--peers", "gru_py", "--scenarios", "S3.forward",
                      "--timeout", "0.01")
    assert proc.returncode == 1
    row = rows[("S3.forward", "gru_py")]
    assert row["status"] == "error" and "waiting for 'ready'" in row["reason"], row


def _state(rates, trips):
    return host_state.summarize({"gflops": rates, "round_trip_ns": trips})


def test_host_health_and_the_worst_of_two_probes():
    well = _state([250.0, 245.0], [90])
    far = _state([250.0, 248.0], [400])
    shared = _state([250.0, 125.0], [90])
    assert host_state.healthy(well) is True
    assert host_state.healthy(far) is False and host_state.healthy(shared) is False
    assert host_state.healthy(_state([250.0], [])) is True  # one CPU: nothing to compare
    assert host_state.healthy(None) is None
    assert host_state.worst([well, far]) is far and host_state.worst([shared, None]) is shared
    assert host_state.worst([None, None]) is None
    assert host_state.describe(well) == "90 ns, CPUs 0.98"
    assert host_state.describe(far) == "400 ns, CPUs 0.99 (unhealthy)"
