"""Keras 3's progress bar: the lines ``fit``, ``evaluate`` and ``predict`` print.

Line formats follow Keras (API_SPEC 4.3)::

    verbose=1   " 3/10 ━━━━━━────────────── 1s 200ms/step - loss: 0.4500"
    verbose=2   "10/10 - 2s - 150ms/step - loss: 0.3000"

With verbose=1 the bar is redrawn in place (``\\b``/``\\r``, bold counter, green and white
``━`` through ANSI codes) when the output is a terminal or a Jupyter kernel: "dynamic
display". When standard output is redirected (a file, a pipe, a captured stream) the bar
prints one plain, newline-terminated line per update instead, without ANSI codes; the
part of the bar still to go is drawn with ``─`` since colour no longer tells it apart.
Keras also turns dynamic display on whenever ``"posix" in sys.modules``, which would put
escape codes and carriage returns in redirected logs on every POSIX system; gru_py does
not.
"""

import math
import os
import sys
import time

import numpy as np

# The clock the bar reads; a module attribute so that tests can replace it.
_clock = time.time

_BOLD = "\x1b[1m"
_GREEN = "\x1b[32m"
_WHITE = "\x1b[37m"
_RESET = "\x1b[0m"
_DONE = "━"
_TODO_PLAIN = "─"
# Fallbacks when the output's encoding cannot represent the bar's box-drawing glyphs.
_ASCII_GLYPHS = str.maketrans({_DONE: "=", _TODO_PLAIN: "-"})


def _print_msg(message, line_break=True):
    """Writes ``message`` to the current ``sys.stdout`` and flushes it.

    If the stream's encoding cannot represent the bar's glyphs they become ``=`` and
    ``-``, and any other unrepresentable character is replaced.
    """
    message = str(message) + ("\n" if line_break else "")
    stream = sys.stdout
    if stream is None:  # pythonw and some embedded interpreters
        return
    try:
        stream.write(message)
    except UnicodeEncodeError:
        encoding = getattr(stream, "encoding", None) or "ascii"
        message = message.translate(_ASCII_GLYPHS)
        stream.write(message.encode(encoding, errors="replace").decode(encoding))
    stream.flush()


def _dynamic_display():
    """Whether the current ``sys.stdout`` can redraw a line in place: a terminal, a
    Jupyter kernel, or PyCharm's run console (Keras' rule, without its blanket
    ``"posix" in sys.modules``, so that redirected output gets plain lines)."""
    stream = sys.stdout
    try:
        tty = bool(stream.isatty())
    except (AttributeError, ValueError, OSError):  # no isatty, or a closed stream
        tty = False
    return tty or "ipykernel" in sys.modules or "PYCHARM_HOSTED" in os.environ


def _format_value(value):
    """A metric as Keras shows it: ``.4f`` when its magnitude exceeds 1e-3, else
    ``.4e``."""
    return f"{value:.4f}" if abs(value) > 1e-3 else f"{value:.4e}"


def _format_eta(seconds):
    """``%ds``, ``%d:%02d`` past a minute, ``%d:%02d:%02d`` past an hour (truncated)."""
    if seconds > 3600:
        return f"{int(seconds // 3600)}:{int(seconds % 3600 // 60):02d}:{int(seconds % 60):02d}"
    if seconds > 60:
        return f"{int(seconds // 60)}:{int(seconds % 60):02d}"
    return f"{int(seconds)}s"


def _format_time(time_per_unit, unit_name):
    """`` 2ms/step``: seconds, milliseconds or microseconds per unit, no decimals."""
    if time_per_unit >= 1 or time_per_unit == 0:
        return f" {time_per_unit:.0f}s/{unit_name}"
    if time_per_unit >= 1e-3:
        return f" {time_per_unit * 1e3:.0f}ms/{unit_name}"
    return f" {time_per_unit * 1e6:.0f}us/{unit_name}"


class Progbar:
    """A progress bar with Keras 3's output.

    Args:
        target: total number of steps, or None if unknown (the bar then shows
            ``{current}/Unknown``).
        width: number of bar characters.
        verbose: 0 silent, 1 a bar updated as steps complete, 2 a single line when the
            bar is finalized.
        interval: minimum number of seconds between two redraws with verbose=1 (the
            final update always draws).
        stateful_metrics: names of values shown as given; every other value is
            averaged over the steps seen so far, each update weighted by the number of
            steps it advances.
        unit_name: the unit in the time per step, ``"step"`` or ``"sample"`` for
            instance.

    Attributes:
        target: may be set after construction (Keras' ProgbarLogger does when the
            number of steps was unknown).
    """

    def __init__(self, target, width=20, verbose=1, interval=0.05, stateful_metrics=None,
                 unit_name="step"):
        if verbose not in (0, 1, 2):
            raise ValueError(f"verbose must be 0, 1 or 2, got {verbose!r}")
        self.target = target
        self.width = int(width)
        self.verbose = verbose
        self.interval = interval
        self.unit_name = unit_name
        self.stateful_metrics = set(stateful_metrics) if stateful_metrics else set()
        self._dynamic_display = _dynamic_display()
        self._seen_so_far = 0
        self._values = {}  # name -> [weighted sum, weight]
        self._values_order = []
        self._start = _clock()
        self._last_update = 0.0
        self._time_after_first_step = None
        self._prev_total_width = 0

    def update(self, current, values=None, finalize=None):
        """Moves the bar to step ``current``.

        Args:
            current: the number of steps done.
            values: ``(name, value)`` pairs for this update. A value not in
                ``stateful_metrics`` enters a running average; at the final update it is
                shown as given (Keras' rule: the caller passes the epoch's final
                figures).
            finalize: whether this is the last update; by default ``current >=
                target`` (never when the target is unknown).
        """
        if finalize is None:
            finalize = self.target is not None and current >= self.target

        for name, value in values or []:
            if name not in self._values_order:
                self._values_order.append(name)
            if name in self.stateful_metrics or finalize:
                self._values[name] = [value, 1]
            else:
                # Keras weights each update by the steps it covers, at least one (an
                # update that repeats the current step still counts).
                steps = max(current - self._seen_so_far, 1)
                if name in self._values:
                    self._values[name][0] += value * steps
                    self._values[name][1] += steps
                else:
                    self._values[name] = [value * steps, steps]
        self._seen_so_far = current

        now = _clock()
        time_per_unit = self._estimate_step_duration(current, now)

        if self.verbose == 1:
            if now - self._last_update < self.interval and not finalize:
                return
            self._draw(current, now, time_per_unit, finalize)
        elif self.verbose == 2 and finalize and self.target is not None and self.target > 0:
            digits = int(math.log10(self.target)) + 1
            line = f"{int(current):>{digits}d}/{self.target} - {now - self._start:.0f}s"
            line += f" -{_format_time(time_per_unit, self.unit_name)}"
            line += self._metrics_text()
            _print_msg(line)
        self._last_update = now

    def add(self, n, values=None):
        """Advances the bar by ``n`` steps."""
        self.update(self._seen_so_far + n, values)

    # -- internals ---------------------------------------------------------------------

    def _metrics_text(self):
        text = ""
        for name in self._values_order:
            total, count = self._values[name]
            if not isinstance(total, float):
                total = float(np.mean(total))  # arrays are shown by their mean, as Keras
            text += f" - {name}: {_format_value(total / max(1, count))}"
        return text

    def _draw(self, current, now, time_per_unit, finalize):
        dynamic = self._dynamic_display
        known = self.target is not None and self.target > 0
        if known:
            digits = int(math.log10(self.target)) + 1
            counter = f"{int(current):>{digits}d}/{self.target}"
            done = min(max(int(self.width * current / self.target), 0), self.width)
            if dynamic:
                bar = f"{_BOLD}{counter}{_RESET} "
                if done > 0:
                    bar += f"{_GREEN}{_DONE * done}{_RESET}"
                bar += f"{_WHITE}{_DONE * (self.width - done)}{_RESET}"
            else:
                bar = f"{counter} {_DONE * done}{_TODO_PLAIN * (self.width - done)}"
        else:
            bar = f"{int(current):7d}/Unknown"

        if known and not finalize:
            clock_text = _format_eta(time_per_unit * (self.target - current))
        else:
            clock_text = f"{now - self._start:.0f}s"  # elapsed
        info = f" {_BOLD}{clock_text}{_RESET}" if dynamic else f" {clock_text}"
        info += _format_time(time_per_unit, self.unit_name)
        info += self._metrics_text()

        if not dynamic:
            _print_msg(bar + info)
            return

        # Redraw in place: back over the previous line, and blank out whatever of it the
        # new (visible) text does not cover.
        visible = len(_strip_ansi(bar)) + len(_strip_ansi(info))
        message = "\b" * self._prev_total_width + "\r" + bar + info
        if self._prev_total_width > visible:
            message += " " * (self._prev_total_width - visible)
        if finalize:
            message += "\n"
        _print_msg(message, line_break=False)
        self._prev_total_width = visible

    def _estimate_step_duration(self, current, now):
        """Seconds per step, leaving out the first step (often slow: allocation, warm
        caches) once a later step is known; 0 before any step."""
        if not current:
            return 0
        if self._time_after_first_step is not None and current > 1:
            time_per_unit = (now - self._time_after_first_step) / (current - 1)
        else:
            time_per_unit = (now - self._start) / current
        if current == 1:
            self._time_after_first_step = now
        return time_per_unit


def _strip_ansi(text):
    for code in (_BOLD, _GREEN, _WHITE, _RESET):
        text = text.replace(code, "")
    return text
