"""Tests of gru_py.utils.Progbar: Keras 3's line formats (API_SPEC 4.3), exact strings.

The bar's clock is replaced by a settable one, and standard output by a StringIO: not a
terminal, so static mode (plain lines), unless a test makes ``isatty`` return True.
"""

import io
import sys
import types

import numpy as np
import pytest

from gru_py.utils import Progbar
from gru_py.utils import progbar as progbar_module

BAR = "━"
TODO = "─"
BOLD, GREEN, WHITE, RESET = "\x1b[1m", "\x1b[32m", "\x1b[37m", "\x1b[0m"


class Clock:
    def __init__(self, t=1000.0):
        self.t = t

    def __call__(self):
        return self.t


class TTY(io.StringIO):
    def isatty(self):
        return True


@pytest.fixture
def clock(monkeypatch):
    c = Clock()
    monkeypatch.setattr(progbar_module, "_clock", c)
    return c


@pytest.fixture(autouse=True)
def _outside_notebooks(monkeypatch):
    monkeypatch.delenv("PYCHARM_HOSTED", raising=False)
    monkeypatch.delitem(sys.modules, "ipykernel", raising=False)


def redirect(monkeypatch, stream=None):
    """Replaces standard output (from inside the test: pytest's own capture swaps
    ``sys.stdout`` between fixture setup and the test call)."""
    stream = io.StringIO() if stream is None else stream
    monkeypatch.setattr(sys, "stdout", stream)
    return stream


def test_static_lines_running_average_eta_and_elapsed(clock, monkeypatch):
    out = redirect(monkeypatch)
    bar = Progbar(10)
    assert not bar._dynamic_display
    clock.t = 1000.5
    bar.update(1, [("loss", 1.0)])
    clock.t = 1000.875
    bar.update(4, [("loss", 0.5)])  # weighted by the 3 steps it covers
    clock.t = 1001.625
    bar.update(10, [("loss", 0.25)])  # final: shown as given
    assert out.getvalue() == (
        f" 1/10 {BAR * 2}{TODO * 18} 4s 500ms/step - loss: 1.0000\n"
        f" 4/10 {BAR * 8}{TODO * 12} 0s 125ms/step - loss: 0.6250\n"
        f"10/10 {BAR * 20} 2s 125ms/step - loss: 0.2500\n")


def test_time_per_step_excludes_the_first_step(clock, monkeypatch):
    out = redirect(monkeypatch)
    bar = Progbar(3, verbose=1)
    clock.t = 1002.0  # a slow first step
    bar.update(1)
    clock.t = 1002.5
    bar.update(3)
    assert out.getvalue().splitlines() == [
        f"1/3 {BAR * 6}{TODO * 14} 4s 2s/step",
        f"3/3 {BAR * 20} 2s 250ms/step",  # (2.5 - 2) s over steps 2 and 3
    ]


def test_verbose_2_prints_one_line_at_the_end(clock, monkeypatch):
    out = redirect(monkeypatch)
    bar = Progbar(100, verbose=2)
    for step in range(1, 100):
        clock.t += 0.01
        bar.update(step, [("loss", 2.0), ("acc", -0.5)])
    assert out.getvalue() == ""
    clock.t += 3.0
    bar.update(100, [("loss", 1e-4), ("acc", 0.75)])
    assert out.getvalue() == "100/100 - 4s - 40ms/step - loss: 1.0000e-04 - acc: 0.7500\n"


def test_verbose_0_prints_nothing(clock, monkeypatch):
    out = redirect(monkeypatch)
    bar = Progbar(5, verbose=0)
    bar.update(1, [("loss", 1.0)])
    bar.update(5, [("loss", 1.0)])
    assert out.getvalue() == ""
    with pytest.raises(ValueError, match="verbose"):
        Progbar(5, verbose=3)


@pytest.mark.parametrize("seconds, text", [
    (0.4, "0s"), (59.9, "59s"), (60.0, "60s"), (61.0, "1:01"), (3599.0, "59:59"),
    (3600.0, "60:00"), (3661.0, "1:01:01"), (36000.5, "10:00:00"),
])
def test_eta_formats(seconds, text):
    assert progbar_module._format_eta(seconds) == text


@pytest.mark.parametrize("time_per_unit, text", [
    (0, " 0s/step"), (1.0, " 1s/step"), (12.6, " 13s/step"), (0.25, " 250ms/step"),
    (0.001, " 1ms/step"), (0.000999, " 999us/step"), (5e-5, " 50us/step"),
])
def test_time_units(time_per_unit, text):
    assert progbar_module._format_time(time_per_unit, "step") == text


@pytest.mark.parametrize("value, text", [
    (0.5, "0.5000"), (-0.5, "-0.5000"), (1234.56789, "1234.5679"), (0.001, "1.0000e-03"),
    (0.0011, "0.0011"), (-0.0005, "-5.0000e-04"), (0.0, "0.0000e+00"),
])
def test_value_formats(value, text):
    assert progbar_module._format_value(value) == text


def test_eta_in_minutes_through_the_bar(clock, monkeypatch):
    out = redirect(monkeypatch)
    bar = Progbar(200, unit_name="sample")
    clock.t += 0.5
    bar.update(1)
    clock.t += 0.5
    bar.update(2)  # 0.5 s per sample, 198 to go: 99 s
    assert out.getvalue().splitlines()[-1] == f"  2/200 {TODO * 20} 1:39 500ms/sample"


def test_stateful_metrics_are_shown_as_given_and_arrays_by_their_mean(clock, monkeypatch):
    out = redirect(monkeypatch)
    bar = Progbar(4, stateful_metrics=["lr"])
    clock.t += 0.1
    bar.update(1, [("lr", 0.1), ("v", np.array([1.0, 3.0]))])
    clock.t += 0.1
    bar.update(3, [("lr", 0.05), ("v", np.array([0.0, 2.0]))])
    # v: the step-weighted sum [1, 3] + 2 * [0, 2] = [1, 7], its mean 4, over 3 steps.
    assert out.getvalue().splitlines()[-1].endswith(" - lr: 0.0500 - v: 1.3333")


def test_updates_are_throttled_except_the_final_one(clock, monkeypatch):
    out = redirect(monkeypatch)
    bar = Progbar(5, interval=0.05)
    clock.t += 0.1
    bar.update(1)
    clock.t += 0.01
    bar.update(2)  # too soon: not drawn
    clock.t += 0.01
    bar.update(5)  # final: drawn
    lines = out.getvalue().splitlines()
    assert [line.split()[0] for line in lines] == ["1/5", "5/5"]


def test_unknown_target_and_add(clock, monkeypatch):
    out = redirect(monkeypatch)
    bar = Progbar(None)
    clock.t += 0.5
    bar.add(2, [("loss", 1.0)])
    clock.t += 0.5
    bar.add(2, [("loss", 0.0)])
    assert out.getvalue() == (
        "      2/Unknown 0s 250ms/step - loss: 1.0000\n"
        "      4/Unknown 1s 250ms/step - loss: 0.5000\n")
    bar.target = 4  # ProgbarLogger's way of finishing a bar of unknown length
    bar.update(4, [("loss", 0.5)], finalize=True)
    assert out.getvalue().splitlines()[-1] == f"4/4 {BAR * 20} 1s 250ms/step - loss: 0.5000"


def test_dynamic_display_rewrites_the_line_with_ansi_codes(clock, monkeypatch):
    tty = redirect(monkeypatch, TTY())
    bar = Progbar(10, stateful_metrics=["m"])
    assert bar._dynamic_display
    clock.t += 0.5
    bar.update(1, [("m", 1234.5)])
    first = (f"\r{BOLD} 1/10{RESET} {GREEN}{BAR * 2}{RESET}{WHITE}{BAR * 18}{RESET}"
             f" {BOLD}4s{RESET} 500ms/step - m: 1234.5000")
    assert tty.getvalue() == first
    visible = len(" 1/10 ") + 20 + len(" 4s 500ms/step - m: 1234.5000")
    clock.t += 0.5
    bar.update(2, [("m", 0.5)])  # 3 characters shorter: blanked with spaces
    second = ("\b" * visible + f"\r{BOLD} 2/10{RESET} {GREEN}{BAR * 4}{RESET}"
              f"{WHITE}{BAR * 16}{RESET} {BOLD}4s{RESET} 500ms/step - m: 0.5000" + " " * 3)
    assert tty.getvalue() == first + second
    clock.t += 0.5
    bar.update(10, [("m", 0.25)])
    assert tty.getvalue().endswith(
        f"\r{BOLD}10/10{RESET} {GREEN}{BAR * 20}{RESET}{WHITE}{RESET}"
        f" {BOLD}2s{RESET} 111ms/step - m: 0.2500\n")  # as long as the line before
    assert "\n" not in tty.getvalue()[:-1]  # one line, rewritten in place


def test_dynamic_display_inside_a_notebook_kernel(clock, monkeypatch):
    out = redirect(monkeypatch)
    monkeypatch.setitem(sys.modules, "ipykernel", types.ModuleType("ipykernel"))
    bar = Progbar(2)
    assert bar._dynamic_display
    bar.update(1)
    assert out.getvalue().startswith("\r")


def test_static_mode_on_posix_when_redirected(clock, monkeypatch):
    redirect(monkeypatch)
    assert "posix" in sys.modules or sys.platform == "win32"
    assert not Progbar(1)._dynamic_display  # Keras would say dynamic here on POSIX


def test_output_encoding_without_box_glyphs_falls_back_to_ascii(clock, monkeypatch):
    raw = io.BytesIO()
    redirect(monkeypatch, io.TextIOWrapper(raw, encoding="ascii", write_through=True))
    bar = Progbar(2)
    bar.update(1)
    assert raw.getvalue().decode("ascii") == f"1/2 {'=' * 10}{'-' * 10} 0s 0s/step\n"
