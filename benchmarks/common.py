"""What every peer process shares: argument parsing, the correctness check, timing,
peak memory, and the JSON it hands back to ``run.py``.

A peer module defines ``NAME``, ``info()`` (versions, threads, BLAS kernel) and a dict
``TASKS`` mapping task ids (see scenarios.py) to functions ``fn(ctx)``. A task function
first checks its outputs with ``ctx.check(...)``, then times with ``ctx.time(fn)`` (or
hands in epoch times with ``ctx.record(times)``); ``ctx.time`` refuses to time when a
check failed, so a failing peer shows its difference instead of a time.
"""

import argparse
import json
import os
import resource
import statistics
import sys
import time
import traceback

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import scenarios  # noqa: E402

THREADS = 2
# Other processes' load (in cores) above which a task's times are not comparable.
BUSY = 0.2
# How a peer started with --serve talks to run.py on stdout; libraries may print there too.
PROTOCOL = "gru_bench:"


class CheckFailed(Exception):
    pass


class Unsupported(Exception):
    pass


# -- memory ---------------------------------------------------------------------------------

def _status_kb(field):
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def reset_peak_rss():
    """Resets the process's resident-set high-water mark (Linux clear_refs 5); returns
    whether it could."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def rss_mb():
    kb = _status_kb("VmRSS")
    return None if kb is None else kb / 1024


def peak_rss_mb():
    """VmHWM (since the last reset), or ru_maxrss (since the start) where unavailable."""
    kb = _status_kb("VmHWM")
    if kb is None:
        kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / 1024


def machine_busy_s():
    """CPU seconds all processes on the machine have spent busy (/proc/stat)."""
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
    except OSError:
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def own_cpu_s():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def wait_until_idle(max_wait, threshold=0.15, window=1.0):
    """Waits up to max_wait s until other processes use less than `threshold` cores
    (measured while this process sleeps). Returns (load, seconds waited)."""
    t0 = time.perf_counter()
    while True:
        b0 = machine_busy_s()
        if b0 is None:
            return None, 0.0
        time.sleep(window)
        load = (machine_busy_s() - b0) / window
        waited = time.perf_counter() - t0
        if load <= threshold or waited >= max_wait:
            return load, waited
        time.sleep(2)


def blas_pools():
    """threadpoolctl's view of the BLAS/OpenMP libraries loaded in this process."""
    try:
        import threadpoolctl
    except ImportError:
        return "threadpoolctl not installed"
    keys = ("internal_api", "version", "architecture", "num_threads", "threading_layer")
    return [dict({k: p.get(k) for k in keys}, file=os.path.basename(p.get("filepath", "")))
            for p in threadpoolctl.threadpool_info()]


# -- the run context ------------------------------------------------------------------------

class Context:
    def __init__(self, args, data, ref):
        self.args = args
        self.data = data
        self.ref = ref
        self.s2_samples = int(data["S2/x"].shape[0])
        self.result = None
        self.cache = {}  # a peer's measurements shared by tasks; cleared on a retry

    def start(self, task):
        self.result = {"task": task, "status": "running", "checks": [], "notes": []}

    def note(self, text):
        self.result["notes"].append(text)

    def check(self, what, got, want, relative=False):
        """max|got - want| <= ATOL (times max(1, max|want|) when ``relative``)."""
        got = np.asarray(got, dtype=np.float64)
        want = np.asarray(want, dtype=np.float64)
        if got.shape != want.shape:
            self.result["checks"].append({"what": what, "ok": False,
                                          "error": f"shape {got.shape} != {want.shape}"})
            return False
        diff = float(np.max(np.abs(got - want))) if got.size else 0.0
        scale = max(1.0, float(np.max(np.abs(want)))) if relative else 1.0
        tol = scenarios.ATOL * scale
        ok = bool(np.isfinite(diff) and diff <= tol)
        self.result["checks"].append({"what": what, "max_abs_diff": diff, "tol": tol,
                                      "ok": ok})
        return ok

    def check_differs(self, what, got, other):
        """max|got - other| > ATOL: for what must change, such as a loss under dropout."""
        got = np.asarray(got, dtype=np.float64)
        diff = float(np.max(np.abs(got - np.asarray(other, dtype=np.float64))))
        ok = bool(diff > scenarios.ATOL)
        entry = {"what": what, "difference": diff, "ok": ok}
        if not ok:
            entry["error"] = f"differs by only {diff:.3g} <= {scenarios.ATOL:.3g}"
        self.result["checks"].append(entry)
        return ok

    def check_s2_training(self, variant, loss, grads):
        """The training loss and gradients of an S2 model (Keras weight order) on the first
        batch, against gru_py's. S2R's and S2D's depend on random dropout masks, which no
        two libraries draw alike: there, the gradients must only differ from S2's (dropout
        acts). The loss alone is a single number that one draw of masks may move by less
        than the tolerance (Keras' did once: 6.9e-5)."""
        if variant in scenarios.DROPOUT_ARGS:
            flat = [np.ravel(g) for g in grads]
            plain = [np.ravel(self.ref[f"S2/grad/{key}"]) for key in scenarios.S2_WEIGHT_NAMES]
            self.check_differs("dropout changes the gradients", np.concatenate(flat),
                               np.concatenate(plain))
            return
        self.check("loss", loss, self.ref[f"{variant}/loss"])
        for key, grad in zip(scenarios.S2_WEIGHT_NAMES, grads):
            self.check(f"grad {key}", grad, self.ref[f"{variant}/grad/{key}"], relative=True)

    def _refuse_if_failed(self):
        bad = [c for c in self.result["checks"] if not c["ok"]]
        if bad:
            raise CheckFailed("; ".join(
                f"{c['what']}: " + (c.get("error") or f"max|diff| {c['max_abs_diff']:.3g} > "
                                    f"{c['tol']:.3g}") for c in bad))

    def time(self, fn, warmup=None, runs=None, min_time=None, max_runs=None):
        """Warm-up calls, then at least ``runs`` timed calls, more (up to ``max_runs``)
        until ``min_time`` seconds were timed. Returns the list of times."""
        self._refuse_if_failed()
        a = self.args
        warmup = a.warmup if warmup is None else warmup
        runs = a.runs if runs is None else runs
        min_time = a.min_time if min_time is None else min_time
        max_runs = a.max_runs if max_runs is None else max_runs
        times = time_calls(fn, warmup, runs, min_time, max_runs)
        self.record(times, warmup)
        return times

    def record(self, times, warmup):
        self._refuse_if_failed()
        times = sorted(float(t) for t in times)
        q = (statistics.quantiles(times, n=4, method="inclusive") if len(times) >= 2
             else [times[0]] * 3)
        self.result.update(times_s=times, runs=len(times), warmup=warmup,
                           median_s=statistics.median(times), min_s=times[0],
                           p25_s=q[0], p75_s=q[2])


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description="one benchmark peer (started by run.py)")
    ap.add_argument("--data", required=True, help=".npz with the shared data and weights")
    ap.add_argument("--ref", required=True, help=".npz with gru_py's reference outputs")
    ap.add_argument("--out", required=True, help="JSON file to write")
    ap.add_argument("--tasks", default="", help="comma-separated task ids")
    ap.add_argument("--serve", action="store_true",
                    help="take task ids from stdin, one a line, and report each on stdout "
                         f"('{PROTOCOL} done <task>') when its result is written; how "
                         "run.py interleaves the peers")
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--min-time", type=float, default=1.0)
    ap.add_argument("--max-runs", type=int, default=200)
    ap.add_argument("--fit-epochs", type=int, default=10)
    ap.add_argument("--wait-idle", type=float, default=0)
    ap.add_argument("--retries", type=int, default=0)
    return ap.parse_args(argv)


def _say(message):
    print(f"{PROTOCOL} {message}", flush=True)


def run_peer(name, info_fn, tasks, setup_error=None):
    """The peer process's main: runs the requested tasks (given by --tasks, or one by one
    on stdin with --serve) and writes the JSON after each."""
    args = parse_args()
    out = {"peer": name, "pid": os.getpid(), "argv": sys.argv,
           "env": {k: os.environ.get(k) for k in (
               "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
               "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "KERAS_BACKEND",
               "TF_ENABLE_ONEDNN_OPTS")},
           "tasks": {}}
    ctx = None
    if setup_error is not None:
        out["unavailable"] = setup_error
    else:
        with np.load(args.data) as z:
            data = {k: z[k] for k in z.files}
        with np.load(args.ref) as z:
            ref = {k: z[k] for k in z.files}
        ctx = Context(args, data, ref)
        try:
            out["info"] = info_fn()
        except Exception as exc:  # the info is for the report; never fatal
            out["info"] = {"error": repr(exc)}
        out["info"]["blas_pools_after_import"] = blas_pools()
        out["rss_after_import_mb"] = rss_mb()
    _write(args.out, out)
    if args.serve:
        _say("ready")
        requested = (line.strip() for line in sys.stdin)
    else:
        requested = (t for t in args.tasks.split(",") if t)
    for task in requested:
        if not task:
            continue
        if ctx is None:
            out["tasks"][task] = {"task": task, "status": "unavailable",
                                  "reason": setup_error}
        else:
            out["tasks"][task] = _run_with_retries(name, ctx, tasks.get(task), task, args)
        _write(args.out, out)  # after every task: a peer stopped later keeps these
        if args.serve:
            _say(f"done {task}")
    if ctx is not None:
        out["info"]["blas_pools_at_end"] = blas_pools()
    out["max_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    _write(args.out, out)


def _run_with_retries(name, ctx, fn, task, args):
    """One task's result, run again (up to --retries times) while other processes took a
    core during it."""
    ctx.start(task)
    if fn is None:
        ctx.result.update(status="unsupported", reason="not run by this peer")
        return ctx.result
    history = []
    for attempt in range(1 + max(0, args.retries)):
        ctx.start(task)
        _run_task(ctx, fn, args)
        load = ctx.result.get("other_load_cores") or 0.0
        if ctx.result["status"] != "ok" or load <= BUSY or attempt == args.retries:
            break
        # Another process took a core meanwhile: times are not comparable; again.
        history.append({"median_s": ctx.result.get("median_s"), "other_load_cores": load})
        ctx.cache.clear()
        print(f"[{name}] {task}: other processes used {load:.2f} cores, again",
              file=sys.stderr, flush=True)
    ctx.result["discarded_attempts"] = history
    print(f"[{name}] {task}: {ctx.result['status']}"
          + (f" median {ctx.result['median_s'] * 1e3:.3f} ms" if "median_s" in ctx.result
             else f" ({ctx.result.get('reason', '')[:200]})"), file=sys.stderr, flush=True)
    return ctx.result


def _run_task(ctx, fn, args):
    if args.wait_idle > 0:
        load, waited = wait_until_idle(args.wait_idle)
        ctx.result.update(other_load_cores_before=load, waited_for_idle_s=waited)
    resettable = reset_peak_rss()
    ctx.result["rss_before_mb"] = rss_mb()
    busy0, own0 = machine_busy_s(), own_cpu_s()
    t0 = time.perf_counter()
    try:
        fn(ctx)
        ctx.result["status"] = "ok"
    except CheckFailed as exc:
        ctx.result.update(status="check_failed", reason=str(exc))
    except Unsupported as exc:
        ctx.result.update(status="unsupported", reason=str(exc))
    except Exception as exc:
        ctx.result.update(status="error", reason=f"{type(exc).__name__}: {exc}",
                          traceback=traceback.format_exc())
    ctx.result["wall_s"] = wall = time.perf_counter() - t0
    if busy0 is not None and ctx.result["status"] == "ok":
        # Cores other processes kept busy during the task (checks, warm-up and runs).
        # Only for tasks that ran: the load counters tick every 10 ms, so over the
        # microseconds of a task that was refused one tick reads as hundreds of cores.
        ctx.result["other_load_cores"] = max(
            0.0, (machine_busy_s() - busy0 - (own_cpu_s() - own0)) / wall)
    ctx.result["peak_rss_mb"] = peak_rss_mb()
    ctx.result["peak_rss_is_per_task"] = resettable


def _write(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=1, default=_json_default)


def _json_default(o):
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


def time_fit_epochs(ctx, model, x, y, batch_size, callback_base):
    """Times fit epoch by epoch through a callback of the peer's framework (its
    ``Callback`` class is ``callback_base``), after warm-up epochs, and records them."""

    class EpochTimer(callback_base):
        def __init__(self):
            super().__init__()
            self.times = []

        def on_epoch_begin(self, epoch, logs=None):
            self.t0 = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.times.append(time.perf_counter() - self.t0)

    warm = max(1, min(ctx.args.warmup, 2))
    timer = EpochTimer()
    model.fit(x, y, batch_size=batch_size, epochs=warm + ctx.args.fit_epochs, shuffle=False,
              verbose=0, callbacks=[timer])
    ctx.result["api"] = (f"Sequential.fit(batch_size={batch_size}, shuffle=False, verbose=0), "
                         "per-epoch time from a callback")
    ctx.record(timer.times[warm:], warm)
    ctx.result["samples_per_s"] = len(x) / ctx.result["median_s"]


# Untimed calls last at least this long. A peer that has just built its model may still
# have threads of its own, or of NumPy's OpenBLAS, spinning on both cores: NumPy's wake
# for the QR of an orthogonal initializer and spin for tens of milliseconds after it,
# which doubled the first hundred S3 forwards (0.5 ms each). No peer's steady state
# depends on that.
WARMUP_MIN_S = 0.25


def time_calls(fn, warmup, runs, min_time, max_runs):
    """Wall times of calls of fn after untimed ones (at least `warmup` of them, and at
    least WARMUP_MIN_S seconds of them): at least `runs`, more until they add up to
    `min_time` seconds, at most `max_runs`."""
    start = time.perf_counter()
    calls = 0
    while calls < warmup or time.perf_counter() - start < WARMUP_MIN_S:
        fn()
        calls += 1
    times = []
    total = 0.0
    while len(times) < runs or (total < min_time and len(times) < max_runs):
        t0 = time.perf_counter()
        fn()
        dt = time.perf_counter() - t0
        times.append(dt)
        total += dt
    return times
