"""benchmarks/run.py end to end, as far as this environment allows: the gru_py peer
always runs; PyTorch, ONNX Runtime and Keras are optional extras of the benchmark and,
when absent, must be reported as unavailable, not crash the run. The peers are driven
task by task over their stdin (--serve), which is what these runs exercise.
"""

import json
import subprocess
import sys
from pathlib import Path

RUN = Path(__file__).resolve().parent.parent / "benchmarks" / "run.py"


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


def test_a_peer_that_cannot_start_in_time_is_an_error_row(tmp_path):
    proc, rows = _run(tmp_path, "--peers", "gru_py", "--scenarios", "S3.forward",
                      "--timeout", "0.01")
    assert proc.returncode == 1
    row = rows[("S3.forward", "gru_py")]
    assert row["status"] == "error" and "waiting for 'ready'" in row["reason"], row
