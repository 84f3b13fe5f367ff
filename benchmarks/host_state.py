"""The state of the machine's CPUs around each task, from host_probe.c.

A shared virtual machine's host moves its virtual CPUs around. On this project's machine
the two CPUs were, for minutes at a time, far apart, and every two-thread run slowed
while single-thread runs and the count of idle cores stayed as they were (host_probe.c
says how much); a CPU whose core another busy thread shares is as bad. run.py probes
before and after each peer's turn at a task, puts the less healthy state in the row, and
can wait for a healthy host before a turn (--wait-host).
"""

import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.join(HERE, "host_probe.c")

# A healthy host: a cache line's round trip between the two CPUs at most this long (75-125
# ns when the host was well, 370-1000 when it was not), and the slowest CPU's rate at
# least this fraction of the fastest's (about a half on a CPU whose core is shared).
HEALTHY_ROUND_TRIP_NS = 150
HEALTHY_BALANCE = 0.9
# Seconds to wait after a peer's turn before probing: probed at once, a CPU where a peer's
# idle thread was still spinning showed 0.6-0.7 of the other's rate.
SETTLE_S = 0.5


def build_probe(workdir):
    """Compiles host_probe.c into workdir with $CC (default cc); the binary's path, or None
    with a note on stderr when no compiler can build it."""
    binary = os.path.join(workdir, "host_probe")
    compiler = os.environ.get("CC", "cc")
    for arch in (["-march=native"], []):
        cmd = [compiler, "-std=gnu11", "-O2", *arch, "-pthread", SOURCE, "-o", binary]
        try:
            subprocess.run(cmd, check=True, capture_output=True, timeout=120)
            return binary
        except (OSError, subprocess.CalledProcessError, subprocess.TimeoutExpired):
            continue
    print(f"   note: could not build {SOURCE} with {compiler}; the host's state is not "
          "reported", file=sys.stderr)
    return None


def probe(binary):
    """The probe's state (summarize), or None without a probe or when it fails."""
    if binary is None:
        return None
    try:
        out = subprocess.run([binary], check=True, capture_output=True, text=True,
                             timeout=30).stdout
        return summarize(json.loads(out))
    except (OSError, subprocess.CalledProcessError, subprocess.TimeoutExpired, ValueError):
        return None


def summarize(state):
    """host_probe.c's {"gflops": [per CPU], "round_trip_ns": [CPU 0 to each other]}, with
    "balance" (the slowest rate over the fastest) and "worst_round_trip_ns" added."""
    rates = state["gflops"]
    state["balance"] = min(rates) / max(rates) if rates and max(rates) > 0 else None
    state["worst_round_trip_ns"] = max(state["round_trip_ns"], default=None)
    return state


def healthy(state):
    """Whether a probe's state is healthy (True/False), or None when unknown."""
    if state is None or state["balance"] is None:
        return None
    trip = state["worst_round_trip_ns"]
    return state["balance"] >= HEALTHY_BALANCE and (trip is None or
                                                      trip <= HEALTHY_ROUND_TRIP_NS)


def describe(state):
    """'80 ns, CPUs 1.00' : the round trip and the slowest CPU's rate over the fastest's."""
    if state is None:
        return ""
    trip = state["worst_round_trip_ns"]
    return (f"{'' if trip is None else f'{trip:.0f} ns, '}CPUs {state['balance']:.2f}"
            + ("" if healthy(state) else " (unhealthy)"))


def worst(states):
    """The least healthy of several probes (ignoring missing ones), or None."""
    known = [s for s in states if s is not None and s["balance"] is not None]
    if not known:
        return None
    return min(known, key=lambda s: (healthy(s), s["balance"],
                                     -(s["worst_round_trip_ns"] or 0)))


def wait_until_healthy(binary, max_wait):
    """Probes until the host is healthy or max_wait seconds have passed; the last probe."""
    t0 = time.perf_counter()
    state = probe(binary)
    while healthy(state) is False and time.perf_counter() - t0 < max_wait:
        print(f"   host unhealthy ({describe(state)}), waiting ...", file=sys.stderr,
              flush=True)
        time.sleep(5)
        state = probe(binary)
    return state
