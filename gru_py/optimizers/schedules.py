"""Learning-rate schedules with Keras 3's names, signatures and formulas.

A schedule is a callable ``schedule(step) -> float``: the optimizer calls it with its
``iterations`` counter (0 on the first update) before every step. Values are computed
in double precision and returned as Python floats (Keras computes in float32; the
optimizer rounds the rate to float32 when it hands it to the C core).

Every schedule round-trips through ``get_config()`` / ``from_config()`` and through
:func:`serialize` / :func:`deserialize` (``{"class_name": ..., "config": {...}}``).
"""

import bisect
import math
import numbers

import numpy as np

from gru_py._config import config_repr


def _number(owner, arg, value):
    """``value`` as a float, or TypeError naming the argument."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{owner}: {arg} must be a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{owner}: {arg} must be finite, got {value!r}")
    return value


def _plain(value):
    """A JSON-friendly copy of a number: NumPy scalars become Python ones."""
    if isinstance(value, np.generic):
        return value.item()
    return value


def _positive_steps(owner, arg, value):
    steps = _number(owner, arg, value)
    if steps <= 0:
        raise ValueError(f"{owner}: {arg} must be > 0, got {value!r}")
    return _plain(value)


def _step(owner, step):
    """The step as a float: a non-negative Python or NumPy real scalar (or 0-d array)."""
    arr = np.asarray(step)
    if arr.ndim != 0 or arr.dtype.kind not in "iuf":
        raise TypeError(f"{owner}: step must be a real scalar, got {step!r}")
    value = float(arr)
    if not value >= 0:
        raise ValueError(f"{owner}: step must be >= 0, got {step!r}")
    return value


class LearningRateSchedule:
    """Base class of learning-rate schedules.

    Subclasses implement ``__call__(step)``, returning the learning rate for the given
    (0-based) optimizer step, and ``get_config()``, returning the constructor arguments.
    """

    def __call__(self, step):
        raise NotImplementedError(
            f"Learning rate schedule '{type(self).__name__}' must override "
            "`__call__(self, step)`.")

    def get_config(self):
        raise NotImplementedError(
            f"Learning rate schedule '{type(self).__name__}' must override "
            "`get_config()` in order to be serializable.")

    @classmethod
    def from_config(cls, config):
        """Rebuilds a schedule from the output of ``get_config()``."""
        return cls(**config)

    def __repr__(self):
        return config_repr(self)


class _TimeDecay(LearningRateSchedule):
    """What ExponentialDecay and InverseTimeDecay share: their arguments and the decay's
    progress ``p = step / decay_steps`` (floored with ``staircase``)."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase, name):
        owner = type(self).__name__
        _number(owner, "initial_learning_rate", initial_learning_rate)
        _number(owner, "decay_rate", decay_rate)
        self.initial_learning_rate = _plain(initial_learning_rate)
        self.decay_steps = _positive_steps(owner, "decay_steps", decay_steps)
        self.decay_rate = _plain(decay_rate)
        self.staircase = bool(staircase)
        self.name = name

    def _progress(self, step):
        p = _step(type(self).__name__, step) / self.decay_steps
        return math.floor(p) if self.staircase else p

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "decay_rate": self.decay_rate,
            "staircase": self.staircase,
            "name": self.name,
        }


class ExponentialDecay(_TimeDecay):
    """``initial_learning_rate * decay_rate ** (step / decay_steps)``.

    Args:
        initial_learning_rate: the rate at step 0.
        decay_steps: positive; the rate is multiplied by ``decay_rate`` every
            ``decay_steps`` steps.
        decay_rate: the decay factor.
        staircase: if True, ``step / decay_steps`` is floored, so the rate changes in
            discrete jumps.
        name: kept for Keras compatibility.

    Raises:
        ValueError: ``decay_steps <= 0``.
    """

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False,
                 name="ExponentialDecay"):
        super().__init__(initial_learning_rate, decay_steps, decay_rate, staircase, name)

    def __call__(self, step):
        return float(self.initial_learning_rate * math.pow(self.decay_rate, self._progress(step)))



class PiecewiseConstantDecay(LearningRateSchedule):
    """A step function: ``values[0]`` while ``step <= boundaries[0]``, ``values[i]``
    while ``boundaries[i-1] < step <= boundaries[i]``, and ``values[-1]`` once
    ``step > boundaries[-1]``.

    Args:
        boundaries: strictly increasing step numbers.
        values: the rates, one more than ``boundaries``.
        name: kept for Keras compatibility.

    Raises:
        ValueError: ``len(values) != len(boundaries) + 1``, or boundaries that do not
            strictly increase.
    """

    def __init__(self, boundaries, values, name="PiecewiseConstant"):
        owner = type(self).__name__
        boundaries = list(boundaries)
        values = list(values)
        if len(boundaries) != len(values) - 1:
            raise ValueError(
                f"{owner}: the length of boundaries should be 1 less than the length of "
                f"values, got boundaries={boundaries} of length {len(boundaries)} and "
                f"values={values} of length {len(values)}")
        for i, b in enumerate(boundaries):
            _number(owner, f"boundaries[{i}]", b)
        for i, v in enumerate(values):
            _number(owner, f"values[{i}]", v)
        if any(b >= c for b, c in zip(boundaries, boundaries[1:])):
            raise ValueError(f"{owner}: boundaries must be strictly increasing, got {boundaries}")
        self.boundaries = [_plain(b) for b in boundaries]
        self.values = [_plain(v) for v in values]
        self.name = name

    def __call__(self, step):
        step = _step(type(self).__name__, step)
        # bisect_left counts the boundaries strictly below step: 0 while step <= b0.
        return float(self.values[bisect.bisect_left(self.boundaries, step)])

    def get_config(self):
        return {"boundaries": list(self.boundaries), "values": list(self.values),
                "name": self.name}


class InverseTimeDecay(_TimeDecay):
    """``initial_learning_rate / (1 + decay_rate * step / decay_steps)``.

    Args:
        initial_learning_rate: the rate at step 0.
        decay_steps: positive; the time unit of the decay.
        decay_rate: the decay factor.
        staircase: if True, ``step / decay_steps`` is floored.
        name: kept for Keras compatibility.

    Raises:
        ValueError: ``decay_steps <= 0``.
    """

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False,
                 name="InverseTimeDecay"):
        super().__init__(initial_learning_rate, decay_steps, decay_rate, staircase, name)

    def __call__(self, step):
        return float(self.initial_learning_rate / (1.0 + self.decay_rate * self._progress(step)))



class PolynomialDecay(LearningRateSchedule):
    """``(initial - end) * (1 - step / decay_steps) ** power + end``.

    Without ``cycle`` the step is capped at ``decay_steps`` (the rate then stays at
    ``end_learning_rate``). With ``cycle``, ``decay_steps`` is replaced by its first
    multiple that is ``>= step`` (``decay_steps`` itself at step 0), so the decay
    restarts every ``decay_steps`` steps.

    Args:
        initial_learning_rate: the rate at step 0.
        decay_steps: positive; the length of the decay.
        end_learning_rate: the final rate.
        power: the polynomial's power; 1 decays linearly.
        cycle: whether to restart after ``decay_steps``.
        name: kept for Keras compatibility.

    Raises:
        ValueError: ``decay_steps <= 0``.
    """

    def __init__(self, initial_learning_rate, decay_steps, end_learning_rate=0.0001, power=1.0,
                 cycle=False, name="PolynomialDecay"):
        owner = type(self).__name__
        _number(owner, "initial_learning_rate", initial_learning_rate)
        _number(owner, "end_learning_rate", end_learning_rate)
        _number(owner, "power", power)
        self.initial_learning_rate = _plain(initial_learning_rate)
        self.decay_steps = _positive_steps(owner, "decay_steps", decay_steps)
        self.end_learning_rate = _plain(end_learning_rate)
        self.power = _plain(power)
        self.cycle = bool(cycle)
        self.name = name

    def __call__(self, step):
        step = _step(type(self).__name__, step)
        decay_steps = float(self.decay_steps)
        if self.cycle:
            decay_steps *= 1.0 if step == 0 else math.ceil(step / decay_steps)
        else:
            step = min(step, decay_steps)
        p = step / decay_steps
        span = self.initial_learning_rate - self.end_learning_rate
        return float(span * (1.0 - p) ** self.power + self.end_learning_rate)

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "end_learning_rate": self.end_learning_rate,
            "power": self.power,
            "cycle": self.cycle,
            "name": self.name,
        }


class CosineDecay(LearningRateSchedule):
    """Cosine decay, optionally after a linear warmup.

    Without ``warmup_target``: ``lr0 * ((1 - alpha) * (1 + cos(pi * s / D)) / 2 + alpha)``
    with ``s = min(step, decay_steps)``. With ``warmup_target``: for
    ``step < warmup_steps`` the rate rises linearly from ``initial_learning_rate`` to
    ``warmup_target``; afterwards the same cosine decay runs from ``warmup_target`` over
    ``step - warmup_steps`` (capped at ``decay_steps``).

    Args:
        initial_learning_rate: the rate at step 0.
        decay_steps: positive; the length of the cosine decay.
        alpha: the final rate as a fraction of the decay's starting rate.
        name: kept for Keras compatibility.
        warmup_target: the rate reached at the end of the warmup, or None for no
            warmup.
        warmup_steps: the length of the warmup (non-negative).

    Raises:
        ValueError: ``decay_steps <= 0`` or ``warmup_steps < 0``.
    """

    def __init__(self, initial_learning_rate, decay_steps, alpha=0.0, name="CosineDecay",
                 warmup_target=None, warmup_steps=0):
        owner = type(self).__name__
        _number(owner, "initial_learning_rate", initial_learning_rate)
        _number(owner, "alpha", alpha)
        if warmup_target is not None:
            _number(owner, "warmup_target", warmup_target)
        if _number(owner, "warmup_steps", warmup_steps) < 0:
            raise ValueError(f"{owner}: warmup_steps must be >= 0, got {warmup_steps!r}")
        self.initial_learning_rate = _plain(initial_learning_rate)
        self.decay_steps = _positive_steps(owner, "decay_steps", decay_steps)
        self.alpha = _plain(alpha)
        self.name = name
        self.warmup_target = _plain(warmup_target)
        self.warmup_steps = _plain(warmup_steps)

    def _decay(self, step, start):
        fraction = step / self.decay_steps
        cosine = 0.5 * (1.0 + math.cos(math.pi * fraction))
        return start * ((1.0 - self.alpha) * cosine + self.alpha)

    def __call__(self, step):
        step = _step(type(self).__name__, step)
        if self.warmup_target is None:
            return float(self._decay(min(step, self.decay_steps), self.initial_learning_rate))
        step = min(step, self.decay_steps + self.warmup_steps)
        if step < self.warmup_steps:
            delta = self.warmup_target - self.initial_learning_rate
            return float(delta * (step / self.warmup_steps) + self.initial_learning_rate)
        return float(self._decay(step - self.warmup_steps, self.warmup_target))

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "alpha": self.alpha,
            "name": self.name,
            "warmup_target": self.warmup_target,
            "warmup_steps": self.warmup_steps,
        }


_BY_CLASS = {
    cls.__name__: cls
    for cls in (ExponentialDecay, PiecewiseConstantDecay, InverseTimeDecay, PolynomialDecay,
                CosineDecay)
}


def serialize(schedule):
    """A JSON-compatible ``{"class_name": ..., "config": {...}}`` for a schedule.

    Raises:
        ValueError: ``schedule`` is not a LearningRateSchedule.
    """
    if not isinstance(schedule, LearningRateSchedule):
        raise ValueError(
            f"schedule must be a LearningRateSchedule, got {type(schedule).__name__}")
    return {"class_name": type(schedule).__name__, "config": schedule.get_config()}


def deserialize(config, custom_objects=None):
    """Rebuilds a schedule from :func:`serialize`'s output.

    Args:
        config: ``{"class_name": ..., "config": {...}}``. Keras' extra keys
            (``"module"``, ``"registered_name"``) are accepted and ignored.
        custom_objects: optional ``{name: class}`` for user-defined schedules.

    Raises:
        ValueError: not a dict, or an unknown class name.
    """
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(
            "schedule config must be a dict with 'class_name' and 'config', "
            f"got {config!r}")
    name = config["class_name"]
    known = dict(_BY_CLASS)
    known.update(custom_objects or {})
    cls = known.get(name)
    if cls is None:
        raise ValueError(
            f"schedule config has unknown class_name {name!r}; expected one of "
            f"{sorted(known)} (pass custom_objects for your own schedules)")
    return cls.from_config(dict(config.get("config") or {}))


__all__ = [
    "CosineDecay", "ExponentialDecay", "InverseTimeDecay", "LearningRateSchedule",
    "PiecewiseConstantDecay", "PolynomialDecay", "deserialize", "serialize",
]
