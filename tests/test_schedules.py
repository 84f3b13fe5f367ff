"""Tests of gru_py.optimizers.schedules against Keras 3's formulas (API_SPEC 5): each
schedule at several steps, including staircase, cycle and warmup boundaries, compared
with a NumPy float64 formula written here; argument checks; configs."""

import json

import numpy as np
import pytest

from gru_py import optimizers
from gru_py.optimizers import schedules
from gru_py.optimizers.schedules import (
    CosineDecay,
    ExponentialDecay,
    InverseTimeDecay,
    LearningRateSchedule,
    PiecewiseConstantDecay,
    PolynomialDecay,
)

STEPS = [0, 1, 2, 3, 4, 5, 7, 9, 10, 11, 15, 19, 20, 21, 25, 40, 1000]


def assert_schedule(schedule, formula, steps=STEPS):
    for step in steps:
        got = schedule(step)
        assert type(got) is float, f"step {step}: {type(got).__name__}"
        want = float(formula(np.float64(step)))
        assert abs(got - want) <= 1e-7 * max(abs(want), 1e-12), f"step {step}: {got} != {want}"


# -- formulas ----------------------------------------------------------------------------

@pytest.mark.parametrize("staircase", [False, True])
def test_exponential_decay(staircase):
    def formula(s):
        p = s / 10.0
        return 0.1 * np.power(0.96, np.floor(p) if staircase else p)

    assert_schedule(ExponentialDecay(0.1, 10, 0.96, staircase=staircase), formula)


def test_exponential_staircase_jumps_exactly_at_multiples():
    s = ExponentialDecay(1.0, 10, 0.5, staircase=True)
    assert [s(9), s(10), s(19), s(20)] == [1.0, 0.5, 0.5, 0.25]
    assert s(9.999) == 1.0


@pytest.mark.parametrize("staircase", [False, True])
def test_inverse_time_decay(staircase):
    def formula(s):
        p = s / 5.0
        return 0.5 / (1.0 + 0.3 * (np.floor(p) if staircase else p))

    assert_schedule(InverseTimeDecay(0.5, 5, 0.3, staircase=staircase), formula)


def test_piecewise_constant_decay_boundaries_belong_to_the_lower_interval():
    boundaries, values = [5, 10, 20], [1.0, 0.5, 0.1, 0.01]

    def formula(s):
        # values[0] for s <= b0, values[i] for b(i-1) < s <= b(i), values[-1] past the end
        return values[int(np.searchsorted(boundaries, s, side="left"))]

    schedule = PiecewiseConstantDecay(boundaries, values)
    assert_schedule(schedule, formula)
    assert [schedule(s) for s in (5, 6, 10, 11, 20, 21)] == [1.0, 0.5, 0.5, 0.1, 0.1, 0.01]
    assert schedule(5.5) == 0.5


def test_piecewise_constant_decay_single_boundary():
    schedule = PiecewiseConstantDecay([0], [0.3, 0.2])
    assert schedule(0) == 0.3 and schedule(1) == 0.2


@pytest.mark.parametrize("power", [1.0, 0.5, 2.0])
def test_polynomial_decay_caps_the_step(power):
    def formula(s):
        s = np.minimum(s, 20.0)
        return (0.1 - 0.001) * np.power(1.0 - s / 20.0, power) + 0.001

    assert_schedule(PolynomialDecay(0.1, 20, end_learning_rate=0.001, power=power), formula)
    assert PolynomialDecay(0.1, 20, 0.001, power)(20) == pytest.approx(0.001, rel=1e-12)


@pytest.mark.parametrize("power", [1.0, 0.5])
def test_polynomial_decay_cycle(power):
    def formula(s):
        d = 20.0 * (1.0 if s == 0 else np.ceil(s / 20.0))
        return (0.1 - 0.001) * np.power(1.0 - s / d, power) + 0.001

    schedule = PolynomialDecay(0.1, 20, end_learning_rate=0.001, power=power, cycle=True)
    assert_schedule(schedule, formula)
    # A full period ends at end_learning_rate; the next step restarts over 2 * decay_steps.
    assert schedule(0) == pytest.approx(0.1, rel=1e-12)
    assert schedule(20) == pytest.approx(0.001, rel=1e-12)
    assert schedule(21) == pytest.approx(formula(21.0), rel=1e-12)
    assert schedule(21) > schedule(20)


def test_polynomial_decay_default_end_learning_rate():
    assert PolynomialDecay(1.0, 10)(10) == pytest.approx(1e-4, rel=1e-12)


@pytest.mark.parametrize("alpha", [0.0, 0.2])
def test_cosine_decay(alpha):
    def formula(s):
        s = np.minimum(s, 20.0)
        return 0.1 * ((1 - alpha) * 0.5 * (1.0 + np.cos(np.pi * s / 20.0)) + alpha)

    schedule = CosineDecay(0.1, 20, alpha=alpha)
    assert_schedule(schedule, formula)
    assert schedule(20) == pytest.approx(0.1 * alpha, abs=1e-15)
    assert schedule(10_000) == schedule(20)


@pytest.mark.parametrize("alpha", [0.0, 0.1])
def test_cosine_decay_with_warmup(alpha):
    lr0, target, warmup, decay = 0.0, 0.2, 5, 15

    def formula(s):
        s = np.minimum(s, decay + warmup)
        if s < warmup:
            return (target - lr0) * (s / warmup) + lr0
        fraction = (s - warmup) / decay
        return target * ((1 - alpha) * 0.5 * (1.0 + np.cos(np.pi * fraction)) + alpha)

    schedule = CosineDecay(lr0, decay, alpha=alpha, warmup_target=target, warmup_steps=warmup)
    assert_schedule(schedule, formula)
    assert schedule(0) == lr0
    assert schedule(4) == pytest.approx(0.16, rel=1e-12)  # still warming up
    assert schedule(5) == pytest.approx(target, rel=1e-12)  # warmup done: decay starts
    assert schedule(20) == pytest.approx(target * alpha, abs=1e-15)


def test_cosine_decay_warmup_target_without_warmup_steps_decays_from_target():
    schedule = CosineDecay(0.5, 10, warmup_target=0.1)
    assert schedule(0) == pytest.approx(0.1, rel=1e-12)
    assert schedule(5) == pytest.approx(0.05, rel=1e-12)


def test_steps_may_be_numpy_scalars():
    schedule = ExponentialDecay(0.1, 10, 0.5)
    want = schedule(7)
    assert schedule(np.int64(7)) == want
    assert schedule(np.array(7, dtype=np.int32)) == want
    assert schedule(np.float32(7.0)) == want
    assert type(schedule(np.int64(7))) is float


@pytest.mark.parametrize("step, error", [
    ("3", TypeError), (np.array([1, 2]), TypeError), (None, TypeError), (-1, ValueError),
])
def test_bad_steps(step, error):
    with pytest.raises(error, match="step must be"):
        CosineDecay(0.1, 10)(step)


# -- argument checks ---------------------------------------------------------------------

@pytest.mark.parametrize("cls", [ExponentialDecay, InverseTimeDecay])
@pytest.mark.parametrize("steps", [0, -5])
def test_decay_steps_must_be_positive(cls, steps):
    with pytest.raises(ValueError, match=f"decay_steps must be > 0, got {steps}"):
        cls(0.1, steps, 0.5)


@pytest.mark.parametrize("make", [
    lambda: PolynomialDecay(0.1, 0), lambda: CosineDecay(0.1, -1),
])
def test_decay_steps_must_be_positive_polynomial_cosine(make):
    with pytest.raises(ValueError, match="decay_steps must be > 0"):
        make()


def test_piecewise_length_mismatch():
    with pytest.raises(ValueError, match="1 less than the length of values"):
        PiecewiseConstantDecay([1, 2], [0.1, 0.2])
    with pytest.raises(ValueError, match="strictly increasing"):
        PiecewiseConstantDecay([5, 5], [0.1, 0.2, 0.3])


def test_argument_types():
    with pytest.raises(TypeError, match="initial_learning_rate must be a number, got '0.1'"):
        ExponentialDecay("0.1", 10, 0.5)
    with pytest.raises(TypeError, match=r"values\[1\] must be a number"):
        PiecewiseConstantDecay([1], [0.1, "x"])
    with pytest.raises(ValueError, match="warmup_steps must be >= 0"):
        CosineDecay(0.1, 10, warmup_target=0.2, warmup_steps=-1)


def test_base_class_must_be_overridden():
    with pytest.raises(NotImplementedError, match="must override `__call__"):
        LearningRateSchedule()(0)
    with pytest.raises(NotImplementedError, match="must override `get_config"):
        LearningRateSchedule().get_config()


# -- configs -----------------------------------------------------------------------------

ALL = [
    ExponentialDecay(0.1, 10, 0.96, staircase=True),
    PiecewiseConstantDecay([5, 10], [1.0, 0.5, 0.1]),
    InverseTimeDecay(0.5, 5, 0.3),
    PolynomialDecay(0.1, 20, end_learning_rate=0.001, power=0.5, cycle=True),
    CosineDecay(0.0, 15, alpha=0.1, warmup_target=0.2, warmup_steps=5),
]


@pytest.mark.parametrize("schedule", ALL, ids=lambda s: type(s).__name__)
def test_config_round_trip(schedule):
    config = schedule.get_config()
    restored = type(schedule).from_config(json.loads(json.dumps(config)))
    assert restored.get_config() == config
    assert [restored(s) for s in STEPS] == [schedule(s) for s in STEPS]
    data = schedules.serialize(schedule)
    assert data == {"class_name": type(schedule).__name__, "config": config}
    again = schedules.deserialize(json.loads(json.dumps(data)))
    assert type(again) is type(schedule) and again.get_config() == config


def test_keras_config_keys_and_defaults():
    assert ExponentialDecay(0.1, 10, 0.9).get_config() == {
        "initial_learning_rate": 0.1, "decay_steps": 10, "decay_rate": 0.9,
        "staircase": False, "name": "ExponentialDecay"}
    assert PiecewiseConstantDecay((1,), (0.2, 0.1)).get_config() == {
        "boundaries": [1], "values": [0.2, 0.1], "name": "PiecewiseConstant"}
    assert PolynomialDecay(0.1, 10).get_config() == {
        "initial_learning_rate": 0.1, "decay_steps": 10, "end_learning_rate": 0.0001,
        "power": 1.0, "cycle": False, "name": "PolynomialDecay"}
    assert InverseTimeDecay(0.1, 10, 0.5).get_config()["name"] == "InverseTimeDecay"
    assert CosineDecay(0.1, 10).get_config() == {
        "initial_learning_rate": 0.1, "decay_steps": 10, "alpha": 0.0, "name": "CosineDecay",
        "warmup_target": None, "warmup_steps": 0}


def test_numpy_arguments_serialise_as_plain_numbers():
    config = ExponentialDecay(np.float32(0.5), np.int64(10), np.float64(0.9)).get_config()
    json.dumps(config)
    assert type(config["decay_steps"]) is int


def test_deserialize_errors_and_keras_keys():
    keras_style = {"module": "keras.optimizers.schedules", "class_name": "InverseTimeDecay",
                   "config": {"initial_learning_rate": 0.1, "decay_steps": 2,
                              "decay_rate": 1.0}, "registered_name": None}
    assert schedules.deserialize(keras_style)(2) == pytest.approx(0.05)
    with pytest.raises(ValueError, match="unknown class_name 'CosineDecayRestarts'"):
        schedules.deserialize({"class_name": "CosineDecayRestarts", "config": {}})
    with pytest.raises(ValueError, match="must be a dict"):
        schedules.deserialize("ExponentialDecay")
    with pytest.raises(ValueError, match="must be a LearningRateSchedule"):
        schedules.serialize(lambda step: 0.1)


def test_importable_as_attribute_and_submodule():
    assert optimizers.schedules is schedules
    assert optimizers.schedules.CosineDecay is CosineDecay
