"""Runs scenarios S1-S4 of PERFORMANCE.md, and their LSTM (S1L, S3L), recurrent dropout
(S2R; S2D adds input dropout) and mask (S2M) variants, side by side: gru_py, PyTorch CPU,
ONNX Runtime (inference) and Keras 3 on tensorflow-cpu, one subprocess per peer, two
threads each, the peers taking turns task by task.

    python benchmarks/run.py                     # everything
    python benchmarks/run.py --quick             # smoke run
    python benchmarks/run.py --peers gru_py,torch --scenarios S1,S3.step_calls

The parent makes the shared data and weights (Keras layout, float32, seeded) and gru_py's
reference outputs and gradients, saves them to a temporary .npz, and starts one process
per peer. Then it hands out the tasks: each task runs on every peer in turn before the
next task starts, while the other peers wait idle. This host's speed drifts by 10-30%
over minutes, so the times a ratio divides are taken within a minute or two of each
other rather than up to ten minutes apart. Each peer maps the weights to its own layout,
checks its outputs against gru_py's (max |diff| <= 1e-4; gradients relative to their
size) and only then times: warm-up, then the median of at least --runs runs. The parent
prints a table (times, ratio against gru_py, GFLOP/s, % of OpenBLAS sgemm's rate on the
same GEMM shapes measured in the gru_py process, peak RSS, the host's state around the
turn (host_state.py), the check), each peer's cost of recurrent dropout and of masks
(S2R, S2D and S2M fit epochs over S2's), and writes JSON.

The peers are optional: a peer that does not import is reported as unavailable.
Install them with ``pip install -r benchmarks/requirements.txt``.
"""

import argparse
import json
import os
import platform
import queue
import shlex
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import host_state  # noqa: E402
import numpy as np  # noqa: E402
import scenarios as sc  # noqa: E402
from common import PROTOCOL, machine_busy_s  # noqa: E402

# label -> (script, extra environment)
PEERS = {
    "gru_py": ("gru_py_peer.py", {}),
    "torch": ("torch_peer.py", {}),
    "onnxruntime": ("onnx_peer.py", {}),
    "keras": ("keras_peer.py", {}),
    # gru_py with the OpenBLAS kernel this machine's environment forces (not run by
    # default): shows how much the kernel choice matters.
    "gru_py_haswell": ("gru_py_peer.py", {"OPENBLAS_CORETYPE": "Haswell",
                                          "OPENBLAS_L2_SIZE": "512"}),
}
DEFAULT_PEERS = ("gru_py", "torch", "onnxruntime", "keras")


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--peers", default=",".join(DEFAULT_PEERS),
                    help=f"comma-separated, from {', '.join(PEERS)} (default: %(default)s)")
    ap.add_argument("--scenarios", default=",".join(sc.SCENARIOS),
                    help="comma-separated scenarios (S1) or tasks (S3.step_calls); "
                         f"tasks: {', '.join(sc.TASKS)}")
    ap.add_argument("--quick", action="store_true",
                    help="smoke run: 3 runs, 1 warm-up, 2 fit epochs over 256 samples")
    ap.add_argument("--runs", type=int, help="timed runs per task (default 10; short tasks "
                    "run more, until --min-time seconds)")
    ap.add_argument("--warmup", type=int, help="warm-up runs (default 2)")
    ap.add_argument("--min-time", type=float, help="seconds of timed runs per short task "
                    "(default 1.0)")
    ap.add_argument("--max-runs", type=int, help="cap on runs of short tasks (default 200)")
    ap.add_argument("--fit-epochs", type=int, help="timed S2 fit epochs (default 10)")
    ap.add_argument("--s2-samples", type=int, help="S2 data set size N, a multiple of 64 "
                    "(default 2048)")
    ap.add_argument("--json", default=os.path.join(HERE, "results.json"),
                    help="where to write the results (default: %(default)s)")
    ap.add_argument("--markdown", help="also write the table as Markdown to this file")
    ap.add_argument("--python", default=sys.executable,
                    help="interpreter for the peers (default: this one)")
    ap.add_argument("--wait-idle", type=float, default=0, metavar="SECONDS",
                    help="before each peer and each task, wait up to SECONDS for other "
                         "processes to leave the cores idle (default: don't wait; the load "
                         "is reported anyway)")
    ap.add_argument("--wait-host", type=float, default=0, metavar="SECONDS",
                    help="before each peer's turn at a task, wait up to SECONDS for a "
                         "healthy host: the CPUs close together and equally fast "
                         "(host_state.py; default: don't wait; the state is reported "
                         "anyway)")
    ap.add_argument("--retries", type=int, default=0,
                    help="run a task again (up to this many times) when other processes "
                         "used more than 0.2 cores during it (default %(default)s)")
    ap.add_argument("--timeout", type=float, default=900,
                    help="seconds a peer may take to start or to run one task before it "
                         "is stopped (default %(default)s)")
    args = ap.parse_args(argv)
    quick = args.quick
    for name, full, small in (("runs", 10, 3), ("warmup", 2, 1), ("min_time", 1.0, 0.0),
                              ("max_runs", 200, 3), ("fit_epochs", 10, 2),
                              ("s2_samples", 2048, 256)):
        if getattr(args, name) is None:
            setattr(args, name, small if quick else full)
    if args.s2_samples % sc.S2["B"] or args.s2_samples < sc.S2_CHECK_SAMPLES:
        ap.error(f"--s2-samples must be a multiple of {sc.S2['B']} and at least "
                 f"{sc.S2_CHECK_SAMPLES}")
    args.peer_list = [p.strip() for p in args.peers.split(",") if p.strip()]
    unknown = [p for p in args.peer_list if p not in PEERS]
    if unknown:
        ap.error(f"unknown peers {unknown}; choose from {list(PEERS)}")
    tasks = []
    for item in (s.strip() for s in args.scenarios.split(",")):
        if not item:
            continue
        chosen = [t for t in sc.TASKS if t == item or sc.scenario_of(t) == item]
        if not chosen:
            ap.error(f"unknown scenario or task {item!r}; tasks: {', '.join(sc.TASKS)}")
        tasks += [t for t in chosen if t not in tasks]
    args.task_list = [t for t in sc.TASKS if t in tasks]
    return args


def peer_env():
    env = dict(os.environ)
    env.update(OPENBLAS_NUM_THREADS="2", OMP_NUM_THREADS="2", MKL_NUM_THREADS="2",
               KERAS_BACKEND="tensorflow", TF_CPP_MIN_LOG_LEVEL="2",
               PYTHONWARNINGS="ignore")
    return env


def machine_info():
    info = {"platform": platform.platform(), "python": sys.version.split()[0],
            "nproc": os.cpu_count(),
            "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
            "OPENBLAS_L2_SIZE": os.environ.get("OPENBLAS_L2_SIZE")}
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        keep = ("Model name", "CPU family", "Model:", "CPU(s):", "Thread(s) per core",
                "L1d cache", "L2 cache", "L3 cache", "Hypervisor vendor")
        info["lscpu"] = {k.strip(): v.strip() for k, v in
                         (line.split(":", 1) for line in out.splitlines() if ":" in line)
                         if any(line_key.rstrip(":") == k.strip() for line_key in keep)}
        flags = next((line.split(":", 1)[1].split() for line in out.splitlines()
                      if line.startswith("Flags")), [])
        info["simd"] = [f for f in ("avx2", "fma", "avx512f", "avx512_bf16", "avx_vnni")
                        if f in flags]
    except (OSError, subprocess.CalledProcessError):
        pass
    try:
        with open("/proc/meminfo") as f:
            info["mem_total_gib"] = round(int(f.readline().split()[1]) / 2**20, 1)
    except OSError:
        pass
    return info


def _process_cpu_s(pid):
    """CPU seconds process `pid` has used (/proc/<pid>/stat), or None."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def background_load(seconds=1.0):
    """Cores kept busy by other processes over a short window (we are idle meanwhile)."""
    b0 = machine_busy_s()
    time.sleep(seconds)
    b1 = machine_busy_s()
    return None if b0 is None else (b1 - b0) / seconds


def wait_until_idle(max_wait, threshold=0.15):
    """Waits (up to max_wait s) until other processes use less than `threshold` cores."""
    t0 = time.perf_counter()
    load = background_load()
    while load is not None and load > threshold and time.perf_counter() - t0 < max_wait:
        print(f"   machine busy ({load:.2f} cores used by others), waiting ...",
              file=sys.stderr, flush=True)
        time.sleep(4)
        load = background_load()
    return load


class Peer:
    """One peer's process, started with --serve: it takes task ids on stdin and answers
    each on stdout once its result is in its JSON file."""

    def __init__(self, label, args, data_path, ref_path, workdir):
        script, extra = PEERS[label]
        self.label, self.extra = label, extra
        self.out = os.path.join(workdir, f"{label}.json")
        cmd = [args.python, os.path.join(HERE, "peers", script), "--data", data_path,
               "--ref", ref_path, "--out", self.out, "--serve",
               "--runs", str(args.runs), "--warmup", str(args.warmup),
               "--min-time", str(args.min_time), "--max-runs", str(args.max_runs),
               "--fit-epochs", str(args.fit_epochs), "--wait-idle", str(args.wait_idle),
               "--retries", str(args.retries)]
        env = peer_env()
        env.update(extra)
        print(f"== {label}: {' '.join(shlex.quote(c) for c in cmd[1:2])} ...",
              file=sys.stderr, flush=True)
        self.idle_before = wait_until_idle(args.wait_idle) if args.wait_idle else \
            background_load()
        self.failure = None
        self.task_wall = self.others_cpu = 0.0
        self.host = {}  # task -> the host's state before and after the peer's turn
        self.proc = subprocess.Popen(cmd, env=env, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        self.messages = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self._expect("ready", args.timeout)

    def _read(self):
        """Protocol lines from the peer's stdout into the queue; None at its end."""
        for line in self.proc.stdout:
            if line.startswith(PROTOCOL):
                self.messages.put(line[len(PROTOCOL):].strip())
        self.messages.put(None)

    def _expect(self, message, timeout):
        """Waits for `message`; on a timeout or an early exit the peer is failed."""
        deadline = time.perf_counter() + timeout
        while self.failure is None:
            try:
                got = self.messages.get(timeout=max(0.0, deadline - time.perf_counter()))
            except queue.Empty:
                self.failure = f"stopped after {timeout:.0f} s waiting for '{message}'"
                self.proc.kill()
                break
            if got is None:
                self.failure = f"peer process exited with {self.proc.wait()}"
            elif got == message:
                return

    def run(self, task, args, probe):
        """Runs one task, counting the cores other processes used meanwhile, with the
        host's state before and after (the `probe` binary, or None)."""
        if self.failure is not None:
            return
        before = (host_state.wait_until_healthy(probe, args.wait_host) if args.wait_host
                  else host_state.probe(probe))
        self.host[task] = {"before": before}
        busy0, own0, t0 = machine_busy_s(), _process_cpu_s(self.proc.pid), time.perf_counter()
        try:
            self.proc.stdin.write(task + "\n")
            self.proc.stdin.flush()
        except OSError:
            self.failure = f"peer process exited with {self.proc.wait()}"
            return
        self._expect(f"done {task}", (args.timeout + args.wait_idle) * (1 + args.retries))
        self.task_wall += time.perf_counter() - t0
        own1 = _process_cpu_s(self.proc.pid)
        if None not in (busy0, own0, own1):
            self.others_cpu += max(0.0, (machine_busy_s() - busy0) - (own1 - own0))
        # after the peer's own idle threads have stopped spinning (OpenMP's and ONNX
        # Runtime's spin for a while after their last work), which the probe would take
        # for a slow CPU
        time.sleep(host_state.SETTLE_S)
        self.host[task]["after"] = host_state.probe(probe)

    def finish(self, args):
        """Ends the process; its results, with every task it did not report as an error."""
        if self.failure is None:
            self.proc.stdin.close()
            try:
                rc = self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                rc = self.proc.wait()
            if rc != 0:
                self.failure = f"peer process exited with {rc}"
        else:
            self.proc.kill()
            self.proc.wait()
        result = {"peer": self.label, "tasks": {}}
        if os.path.exists(self.out):  # written after every task, so present after a failure
            try:
                with open(self.out) as f:
                    result = json.load(f)
            except ValueError:
                pass
        if self.failure is not None:
            result["process_error"] = self.failure
        for t in args.task_list:
            result["tasks"].setdefault(
                t, {"task": t, "status": "error", "reason": self.failure or "not reported"})
            result["tasks"][t]["host"] = self.host.get(t)
        result["label"] = self.label
        result["wall_s"] = self.task_wall
        result["other_load_cores_before"] = self.idle_before
        # Cores the rest of the machine kept busy while the peer ran its tasks (the other
        # peers wait idle meanwhile): a noisy machine makes every time suspect.
        result["other_load_cores_during"] = \
            self.others_cpu / self.task_wall if self.task_wall else None
        result["extra_env"] = self.extra
        return result


# -- the table --------------------------------------------------------------------------------

def _fmt_time(s):
    if s is None:
        return ""
    if s >= 1:
        return f"{s:.3f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.2f} ms"
    return f"{s * 1e6:.1f} µs"


def _sgemm_for(results, label, task):
    own = results.get(label, {}).get("tasks", {}).get(task, {}).get("sgemm")
    if own:
        return own
    for name in ("gru_py", "gru_py_haswell"):
        s = results.get(name, {}).get("tasks", {}).get(task, {}).get("sgemm")
        if s:
            return s
    return None


def build_rows(results, args):
    rows = []
    for task in args.task_list:
        flops = sc.task_flops(task, args.s2_samples)
        base = results.get("gru_py", {}).get("tasks", {}).get(task, {})
        base_t = base.get("median_s") if base.get("status") == "ok" else None
        for label in args.peer_list:
            r = results[label]["tasks"].get(task, {"status": "error", "reason": "no result"})
            row = {"task": task, "peer": label, "status": r.get("status"), "flops": flops,
                   "reason": r.get("reason"), "api": r.get("api")}
            checks = r.get("checks") or []
            diffs = [c["max_abs_diff"] for c in checks if "max_abs_diff" in c]
            row["check"] = ("fail" if any(not c["ok"] for c in checks) else "ok") \
                if checks else None
            row["max_output_diff"] = max(
                (c["max_abs_diff"] for c in checks
                 if "max_abs_diff" in c and not c["what"].startswith("grad")), default=None)
            row["max_grad_rel_diff"] = max(
                (c["max_abs_diff"] / (c["tol"] / sc.ATOL) for c in checks
                 if "max_abs_diff" in c and c["what"].startswith("grad")), default=None)
            row["max_diff"] = max(diffs) if diffs else None
            row["peak_rss_mb"] = r.get("peak_rss_mb")
            row["other_load_cores"] = r.get("other_load_cores")
            turn = r.get("host") or {}
            row["host"] = host_state.worst([turn.get("before"), turn.get("after")])
            row["tracemalloc_peak_mb"] = r.get("tracemalloc_peak_mb")
            if r.get("status") == "ok":
                t = r["median_s"]
                row.update(median_s=t, p25_s=r["p25_s"], p75_s=r["p75_s"], runs=r["runs"],
                           gflops=flops / t / 1e9, samples_per_s=r.get("samples_per_s"))
                row["ratio_vs_gru_py"] = t / base_t if base_t else None
                sg = _sgemm_for(results, label, task)
                if sg:
                    row["sgemm_gflops"] = sg["gflops"]
                    row["pct_sgemm"] = 100 * row["gflops"] / sg["gflops"]
            rows.append(row)
    return rows


def format_table(rows, args):
    head = ("| task | peer | median | p25-p75 | runs | peer / gru_py | GFLOP/s | "
            "% sgemm | peak RSS MB | other load | host | check (max diff) |")
    lines = [head, "|---|---|---:|---|---:|---:|---:|---:|---:|---:|---|---|"]
    for r in rows:
        chk = ""
        if r["check"]:
            parts = []
            if r["max_output_diff"] is not None:
                parts.append(f"out {r['max_output_diff']:.1e}")
            if r["max_grad_rel_diff"] is not None:
                parts.append(f"grad {r['max_grad_rel_diff']:.1e} rel")
            chk = f"{r['check']} ({', '.join(parts)})"
        if r["status"] != "ok":
            reason = (r.get("reason") or "").replace("|", "/").splitlines()
            reason = reason[0][:90] if reason else ""
            lines.append(f"| {r['task']} | {r['peer']} | **{r['status']}** | {reason} | | | | | "
                         f"{_num(r['peak_rss_mb'], 0)} | {_num(r['other_load_cores'], 2)} | "
                         f"{host_state.describe(r['host'])} | {chk} |")
            continue
        ratio = r.get("ratio_vs_gru_py")
        extra = f" ({r['samples_per_s']:.0f}/s)" if r.get("samples_per_s") else ""
        lines.append(
            f"| {r['task']} | {r['peer']} | {_fmt_time(r['median_s'])}{extra} | "
            f"{_fmt_time(r['p25_s'])}-{_fmt_time(r['p75_s'])} | {r['runs']} | "
            f"{'' if ratio is None else f'{ratio:.2f}x'} | {r['gflops']:.1f} | "
            f"{_num(r.get('pct_sgemm'), 0)}{'%' if r.get('pct_sgemm') is not None else ''} | "
            f"{_num(r['peak_rss_mb'], 0)} | {_num(r['other_load_cores'], 2)} | "
            f"{host_state.describe(r['host'])} | {chk} |")
    return "\n".join(lines)


def _num(v, digits):
    return "" if v is None else f"{v:.{digits}f}"


# A peer's own cost of a feature: the variant's fit epoch time over S2's.
VARIANT_COSTS = {"recurrent dropout": "S2R.fit_epoch",
                 "dropout and recurrent dropout": "S2D.fit_epoch", "masks": "S2M.fit_epoch"}


def variant_costs(rows):
    """{peer: {feature: variant median / S2.fit_epoch median}} for every peer that ran
    both tasks."""
    medians = {(r["task"], r["peer"]): r["median_s"] for r in rows if r["status"] == "ok"}
    costs = {}
    for (task, peer), base in medians.items():
        for feature, variant in VARIANT_COSTS.items():
            if task == "S2.fit_epoch" and (variant, peer) in medians:
                costs.setdefault(peer, {})[feature] = medians[variant, peer] / base
    return costs


def format_variant_costs(costs):
    return "\n".join(
        f"- {peer}: " + "; ".join(f"{feature} {ratio:.2f}x ({VARIANT_COSTS[feature]} / "
                                  f"S2.fit_epoch)" for feature, ratio in c.items())
        for peer, c in costs.items())


def format_sgemm(results, args):
    lines = ["| task | GFLOP | sgemm GFLOP/s (net of call cost) | raw | GEMM shapes (M x K x N "
             "x count) |", "|---|---:|---:|---:|---|"]
    for task in args.task_list:
        sg = _sgemm_for(results, "gru_py", task)
        if not sg:
            continue
        shapes = ", ".join(f"{s['m']}x{s['k']}x{s['n']}x{s['count']}" for s in sg["shapes"])
        lines.append(f"| {task} | {sg['flops'] / 1e9:.2f} | {sg['gflops']:.1f} | "
                     f"{sg['gflops_raw']:.1f} | {shapes} |")
    return "\n".join(lines)


def format_versions(results):
    lines = []
    for label, r in results.items():
        info = dict(r.get("info") or {})
        pools = info.pop("blas_pools_at_end", None) or info.pop("blas_pools_after_import", None)
        info.pop("blas_pools_after_import", None)
        if r.get("unavailable"):
            lines.append(f"- {label}: unavailable ({r['unavailable']})")
            continue
        kernels = ", ".join(
            f"{p.get('file')} {p.get('internal_api')} {p.get('version') or ''} "
            f"{p.get('architecture') or ''} x{p.get('num_threads')}".replace("  ", " ")
            for p in (pools if isinstance(pools, list) else []))
        desc = ", ".join(f"{k}={v}" for k, v in info.items() if k not in ("build",))
        lines.append(f"- {label}: {desc}; threadpoolctl: {kernels or pools}"
                     f"; peak RSS of the process {_num(r.get('max_rss_mb'), 0)} MB"
                     f"; wall time of its tasks {r.get('wall_s', 0):.0f} s"
                     f"; other processes' load during the run "
                     f"{_num(r.get('other_load_cores_during'), 2)} cores")
    return "\n".join(lines)


def main(argv=None):
    args = parse_args(argv)
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "2")
    t_start = time.perf_counter()
    print(f"tasks: {', '.join(args.task_list)}; peers: {', '.join(args.peer_list)}",
          file=sys.stderr)
    data = sc.make_data(args.s2_samples)
    ref = sc.make_reference(data, args.task_list)
    results = {}
    with tempfile.TemporaryDirectory(prefix="gru_bench_") as workdir:
        data_path = os.path.join(workdir, "data.npz")
        ref_path = os.path.join(workdir, "ref.npz")
        np.savez(data_path, **data)
        np.savez(ref_path, **ref)
        del data, ref
        probe = host_state.build_probe(workdir)
        peers = [Peer(label, args, data_path, ref_path, workdir) for label in args.peer_list]
        for task in args.task_list:
            for peer in peers:
                peer.run(task, args, probe)
        for peer in peers:
            results[peer.label] = peer.finish(args)
    rows = build_rows(results, args)
    table = format_table(rows, args)
    costs = variant_costs(rows)
    sgemm = format_sgemm(results, args)
    versions = format_versions(results)
    command = "python " + " ".join(shlex.quote(a) for a in [os.path.relpath(__file__)]
                                   + (sys.argv[1:] if argv is None else list(argv)))
    machine = machine_info()
    settings = {k: getattr(args, k) for k in ("runs", "warmup", "min_time", "max_runs",
                                              "fit_epochs", "s2_samples", "quick")}
    text = "\n\n".join([
        f"Settings: {settings}; threads: 2 per peer; ratio = peer median / gru_py median "
        f"(> 1: gru_py is faster); % sgemm = GFLOP/s over OpenBLAS sgemm's rate on the "
        f"task's GEMM shapes (gru_py's OpenBLAS, same process, same run); other load = "
        f"cores other processes kept busy during the task (should be ~0); host = the "
        f"less healthy of the probes before and after the peer's turn: a cache line's "
        f"round trip between the CPUs, and the slowest CPU's multiply-add rate over the "
        f"fastest's (healthy: at most {host_state.HEALTHY_ROUND_TRIP_NS} ns and at least "
        f"{host_state.HEALTHY_BALANCE}).",
        table]
        + (["Each peer's own cost of recurrent dropout and of masks (fit epoch time over "
            "S2's; the issue's target for gru_py's recurrent dropout: under 1.15x):",
            format_variant_costs(costs)] if costs else [])
        + ["sgemm reference (timed through gru_py.ops.dense_forward):", sgemm,
           "Peers:", versions])
    busy = {f"{r['task']} {r['peer']}": r["other_load_cores"] for r in rows
            if (r.get("other_load_cores") or 0) > 0.2}
    if busy:
        text += ("\n\nWARNING: other processes kept cores busy while tasks ran ("
                 + ", ".join(f"{k}: {v:.2f} cores" for k, v in busy.items())
                 + "); their times are inflated and noisy. Rerun on a quiet machine "
                 "(--wait-idle helps).")
    unhealthy = [f"{r['task']} {r['peer']} ({host_state.describe(r['host'])})" for r in rows
                 if host_state.healthy(r["host"]) is False]
    if unhealthy:
        text += ("\n\nWARNING: the host was unhealthy around some turns ("
                 + ", ".join(unhealthy) + "): its CPUs far apart or one of them slowed, "
                 "which slows two-thread runs for minutes at a time. Rerun, or wait for a "
                 "healthy host with --wait-host.")
    print(text)
    doc = {"command": command, "machine": machine, "settings": settings,
           "tasks": {t: {"description": sc.DESCRIPTIONS[t],
                         "flops": sc.task_flops(t, args.s2_samples)} for t in args.task_list},
           "rows": rows, "variant_costs": costs, "peers": results,
           "total_wall_s": time.perf_counter() - t_start}
    with open(args.json, "w") as f:
        json.dump(doc, f, indent=1)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(text + "\n")
    print(f"\nwrote {args.json}; total {doc['total_wall_s']:.0f} s", file=sys.stderr)
    failed = [r for r in rows if r["status"] in ("check_failed", "error")]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
