"""The Optimizer base class: Keras 3's optimizer lifecycle on NumPy float32 arrays.

Variables are the layers' own float32 arrays; the optimizer updates them, and its slot
arrays (momentums, velocities, ...), in place. Each step follows Keras 3's order:

1. clip the gradients (``clipnorm`` per tensor, ``global_clipnorm`` over all of them,
   or ``clipvalue`` element-wise);
2. decoupled weight decay ``w -= w * weight_decay * learning_rate`` when
   ``weight_decay`` is set;
3. the optimizer's update rule;
4. ``iterations += 1``.

Steps 1 (apart from computing the norms) to 3 run in one pass of the C core per tensor.
The learning rate of a step is the value at the current ``iterations`` (0 on the first
step) of the float, schedule or callable given as ``learning_rate``.
"""

import math
import numbers
import warnings

import numpy as np

from gru_py._native import _core
from gru_py.optimizers import schedules


def _number(owner, arg, value, allow_none=False):
    """``value`` as a float (None passes through when allowed), or TypeError/ValueError
    naming the argument."""
    if value is None and allow_none:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        expected = "a number or None" if allow_none else "a number"
        raise TypeError(f"{owner}: {arg} must be {expected}, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{owner}: {arg} must be finite, got {value!r}")
    return value


def _in_range(owner, arg, value, low, high, high_open=False):
    """``value`` as a float in [low, high] (or [low, high)), else ValueError."""
    value = _number(owner, arg, value)
    if value < low or value > high or (high_open and value == high):
        bracket = ")" if high_open else "]"
        raise ValueError(f"{owner}: {arg} must be in [{low}, {high}{bracket}, got {value!r}")
    return value


def _non_negative(owner, arg, value):
    value = _number(owner, arg, value)
    if value < 0:
        raise ValueError(f"{owner}: {arg} must be >= 0, got {value!r}")
    return value


class Optimizer:
    """Base class of gru_py optimizers.

    Args:
        learning_rate: a float, a
            :class:`~gru_py.optimizers.schedules.LearningRateSchedule` (evaluated at
            ``iterations`` before every step) or a callable taking no arguments that
            returns the rate.
        weight_decay: if set, decoupled weight decay
            ``w -= w * weight_decay * learning_rate`` before each update.
        clipnorm: if positive, each gradient tensor is rescaled so that its L2 norm is
            at most this value.
        clipvalue: if positive, each gradient entry is clipped to
            ``[-clipvalue, clipvalue]``.
        global_clipnorm: if positive, all gradients are rescaled together so that
            their joint L2 norm is at most this value.
        use_ema, ema_momentum, ema_overwrite_frequency: weight moving averages; not
            supported yet (``use_ema=True`` raises NotImplementedError).
        loss_scale_factor: not supported yet (must be None).
        gradient_accumulation_steps: not supported yet (must be None).
        name: the optimizer's name; by default the lower-case class name.
        **kwargs: ``decay`` is accepted and ignored with a warning, as in Keras;
            anything else is an error.

    Raises:
        ValueError: more than one of ``clipnorm``, ``clipvalue`` and
            ``global_clipnorm`` set; an unknown keyword argument; a learning rate
            that is neither a number, a schedule nor a callable.
        NotImplementedError: EMA, loss scaling or gradient accumulation requested.

    Subclasses declare their slots in ``_slot_specs()`` and implement
    ``_update_step(index, variable, gradient, step)``.
    """

    def __init__(self, learning_rate, weight_decay=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, use_ema=False, ema_momentum=0.99,
                 ema_overwrite_frequency=None, loss_scale_factor=None,
                 gradient_accumulation_steps=None, name=None, **kwargs):
        owner = type(self).__name__
        if kwargs.pop("decay", None) is not None:
            warnings.warn("Argument `decay` is no longer supported and will be ignored.",
                          stacklevel=2)
        if kwargs:
            raise ValueError(f"{owner}: argument(s) not recognized: {kwargs}")
        if name is not None and not isinstance(name, str):
            raise TypeError(f"{owner}: name must be a string or None, got {name!r}")
        if gradient_accumulation_steps is not None:
            if (isinstance(gradient_accumulation_steps, bool)
                    or not isinstance(gradient_accumulation_steps, numbers.Integral)
                    or gradient_accumulation_steps < 2):
                raise ValueError(
                    f"{owner}: gradient_accumulation_steps must be an integer >= 2, "
                    f"got {gradient_accumulation_steps!r}")
            raise NotImplementedError(
                f"{owner}: gradient_accumulation_steps={gradient_accumulation_steps!r} is "
                "not supported yet (only the default, None)")
        if use_ema:
            raise NotImplementedError(
                f"{owner}: use_ema={use_ema!r} is not supported yet (only the default, False)")
        if loss_scale_factor is not None:
            raise NotImplementedError(
                f"{owner}: loss_scale_factor={loss_scale_factor!r} is not supported yet "
                "(only the default, None)")
        clips = {"clipnorm": clipnorm, "clipvalue": clipvalue,
                 "global_clipnorm": global_clipnorm}
        if sum(v is not None for v in clips.values()) > 1:
            raise ValueError(
                f"{owner}: only one of clipnorm, clipvalue and global_clipnorm can be set, "
                f"got clipnorm={clipnorm!r}, clipvalue={clipvalue!r}, "
                f"global_clipnorm={global_clipnorm!r}")
        for arg, value in clips.items():
            _number(owner, arg, value, allow_none=True)

        self.name = name if name else owner.lower()
        self.weight_decay = _number(owner, "weight_decay", weight_decay, allow_none=True)
        self.clipnorm = _number(owner, "clipnorm", clipnorm, allow_none=True)
        self.clipvalue = _number(owner, "clipvalue", clipvalue, allow_none=True)
        self.global_clipnorm = _number(owner, "global_clipnorm", global_clipnorm,
                                       allow_none=True)
        self.use_ema = bool(use_ema)
        self.ema_momentum = ema_momentum
        self.ema_overwrite_frequency = ema_overwrite_frequency
        self.loss_scale_factor = loss_scale_factor
        self.gradient_accumulation_steps = gradient_accumulation_steps

        self._learning_rate = self._check_learning_rate(learning_rate)
        self._iterations = 0
        self.built = False
        self._trainable_variables = []
        self._index_of = {}  # id(variable) -> position in _trainable_variables
        self._slots = {}  # slot name -> one array per variable, in build order

    # -- learning rate and counters ----------------------------------------------------

    def _check_learning_rate(self, learning_rate):
        if isinstance(learning_rate, schedules.LearningRateSchedule) or callable(learning_rate):
            return learning_rate
        if isinstance(learning_rate, (bool, np.bool_)) or not isinstance(
                learning_rate, numbers.Real):
            raise ValueError(
                f"{type(self).__name__}: learning_rate must be a float, a "
                "LearningRateSchedule or a callable taking no arguments, got "
                f"{learning_rate!r}")
        return float(learning_rate)

    @property
    def iterations(self):
        """The number of update steps applied so far (an int, 0 before the first)."""
        return self._iterations

    @property
    def learning_rate(self):
        """The learning rate of the next step, as a float.

        A schedule is evaluated at ``iterations``; a callable is called. Setting a
        float replaces the rate, except on an optimizer created with a schedule
        (TypeError, as in Keras); setting a schedule or a callable is always allowed.
        """
        lr = self._learning_rate
        if isinstance(lr, schedules.LearningRateSchedule):
            return float(lr(self._iterations))
        if callable(lr):
            return float(lr())
        return lr

    @learning_rate.setter
    def learning_rate(self, learning_rate):
        if not (isinstance(learning_rate, schedules.LearningRateSchedule)
                or callable(learning_rate)) and isinstance(
                    self._learning_rate, schedules.LearningRateSchedule):
            raise TypeError(
                "This optimizer was created with a `LearningRateSchedule` object as its "
                "`learning_rate` constructor argument, hence its learning rate is not "
                "settable. If you need the learning rate to be settable, you should "
                "instantiate the optimizer with a float `learning_rate` argument.")
        self._learning_rate = self._check_learning_rate(learning_rate)

    # -- slots -------------------------------------------------------------------------

    def _slot_specs(self):
        """``[(slot_name, initial_value), ...]``: the slots each variable gets, in the
        order Keras creates them."""
        return []

    def build(self, variables):
        """Creates the slots for ``variables`` (float32 zeros, or the optimizer's
        initial value), once; later calls do nothing, as in Keras.

        Args:
            variables: the float32 arrays to optimise. They are updated in place, so
                each must be a writeable, C-contiguous float32 ``numpy.ndarray``.

        Raises:
            TypeError: a variable that is not such an array.
            ValueError: the same array listed twice.
        """
        if self.built:
            return
        variables = list(variables)
        owner = type(self).__name__
        index_of = {}
        for i, v in enumerate(variables):
            if (not isinstance(v, np.ndarray) or v.dtype != np.float32
                    or not v.flags.c_contiguous or not v.flags.writeable):
                got = (f"dtype {v.dtype}" if isinstance(v, np.ndarray)
                       else type(v).__name__)
                raise TypeError(
                    f"{owner}: variables[{i}] must be a writeable, C-contiguous float32 "
                    f"numpy.ndarray (it is updated in place), got {got}")
            if id(v) in index_of:
                raise ValueError(
                    f"{owner}: variables[{i}] is the same array as "
                    f"variables[{index_of[id(v)]}]; each variable must be listed once")
            index_of[id(v)] = i
        self._trainable_variables = variables
        self._index_of = index_of
        self._slots = {
            slot: [np.full(v.shape, value, dtype=np.float32) for v in variables]
            for slot, value in self._slot_specs()
        }
        self.built = True

    @property
    def variables(self):
        """The slot arrays (the optimizer's own, not copies): every variable's first slot,
        then every variable's second slot, and so on, in Keras' order (e.g. Adam: all
        momentums, then all velocities, then all velocity_hats with ``amsgrad``).

        Unlike Keras' list this holds neither the iteration counter nor the learning
        rate; :meth:`get_slot_state` adds the counter. Empty before ``build``.
        """
        return [arr for arrays in self._slots.values() for arr in arrays]

    def get_slot_state(self):
        """The optimizer's state, for saving: a list of copies,
        ``[numpy.array(iterations, dtype=int64), *variables]``.

        The learning rate is not part of it: it is in :meth:`get_config`.
        """
        return [np.array(self._iterations, dtype=np.int64)] + [a.copy() for a in self.variables]

    def set_slot_state(self, state):
        """Restores :meth:`get_slot_state`'s output, copying into the existing slot arrays.

        The optimizer must be built on variables of the same shapes first
        (``build(variables)``).

        Raises:
            ValueError: the optimizer is not built; wrong number of arrays; a wrong
                shape; an iteration count that is not a non-negative integer; NaN or
                Inf in a slot.
        """
        owner = type(self).__name__
        if not self.built:
            raise ValueError(
                f"{owner}: set_slot_state needs a built optimizer; call "
                "optimizer.build(variables) first")
        state = list(state)
        slots = self.variables
        if len(state) != len(slots) + 1:
            raise ValueError(
                f"{owner}: set_slot_state expects {len(slots) + 1} arrays (iterations, then "
                f"{len(slots)} slots of shapes {[s.shape for s in slots]}), got {len(state)}")
        iterations = np.asarray(state[0])
        if (iterations.ndim != 0 or iterations.dtype.kind not in "iu"
                or int(iterations) < 0):
            raise ValueError(
                f"{owner}: state[0] must be the iteration count, a non-negative integer, "
                f"got {state[0]!r}")
        arrays = [np.asarray(a, dtype=np.float32) for a in state[1:]]
        for i, (own, new) in enumerate(zip(slots, arrays)):
            if new.shape != own.shape:
                raise ValueError(
                    f"{owner}: state[{i + 1}] must have shape {own.shape}, got {new.shape}")
            if not np.isfinite(new).all():
                raise ValueError(f"{owner}: state[{i + 1}] contains NaN or Inf")
        for own, new in zip(slots, arrays):
            own[...] = new
        self._iterations = int(iterations)

    # -- applying gradients ------------------------------------------------------------

    def apply_gradients(self, grads_and_vars):
        """Applies one step from ``(gradient, variable)`` pairs; see :meth:`apply`.

        Returns:
            ``iterations`` after the step.
        """
        pairs = list(grads_and_vars)
        if pairs:
            grads, variables = zip(*pairs)
            self.apply(list(grads), list(variables))
        return self._iterations

    def apply(self, grads, variables=None):
        """Applies one update step in place.

        Args:
            grads: one gradient per variable (array-like of the variable's shape), or
                None for a variable without gradient (skipped, with a warning).
            variables: the arrays to update; they build the optimizer on the first
                call. None means the variables the optimizer was built with, in order.

        Raises:
            ValueError: no variables given to an unbuilt optimizer; a gradient count
                that does not match; a variable the optimizer was not built with; a
                gradient of the wrong shape; every gradient None.
            TypeError: a gradient that is not real-valued.

        Nothing is updated (and ``iterations`` does not advance) when an error is
        raised.
        """
        owner = type(self).__name__
        grads = list(grads)
        if not grads:
            return
        if variables is None:
            if not self.built:
                raise ValueError(
                    f"{owner}: when passing grads without variables, the optimizer must "
                    "already be built on a list of variables; call "
                    "optimizer.build(variables) first")
            if len(grads) != len(self._trainable_variables):
                raise ValueError(
                    f"{owner}: got {len(grads)} gradients, but the optimizer was built "
                    f"with {len(self._trainable_variables)} variables")
            variables = self._trainable_variables
        else:
            variables = list(variables)
            if len(grads) != len(variables):
                raise ValueError(
                    f"{owner}: got {len(grads)} gradients for {len(variables)} variables")
            if not self.built:
                self.build(variables)
            for i, v in enumerate(variables):
                if id(v) not in self._index_of:
                    raise ValueError(
                        f"{owner}: unknown variable at index {i} (shape "
                        f"{np.shape(v)}): this optimizer can only update the variables it "
                        "was built with; create a new optimizer for new variables")

        work = []  # (slot index, variable, float32 gradient)
        missing = []
        for i, (g, v) in enumerate(zip(grads, variables)):
            if g is None:
                missing.append(i)
                continue
            g = np.asarray(g)
            if g.dtype.kind not in "fiub":
                raise TypeError(
                    f"{owner}: the gradient at index {i} must be real-valued, got dtype "
                    f"{g.dtype}")
            if g.shape != v.shape:
                raise ValueError(
                    f"{owner}: the gradient at index {i} has shape {g.shape}, but its "
                    f"variable has shape {v.shape}")
            work.append((self._index_of[id(v)], v,
                         np.asarray(g, dtype=np.float32, order="C")))
        if not work:
            raise ValueError(f"{owner}: no gradients provided for any variable")
        if missing:
            warnings.warn(
                f"Gradients do not exist for variables at indices {missing} (shapes "
                f"{[variables[i].shape for i in missing]}) when minimizing the loss.",
                stacklevel=2)

        learning_rate = self.learning_rate
        scales = self._gradient_scales([g for _, _, g in work])
        clip_value = self.clipvalue if self.clipvalue and self.clipvalue > 0 else 0.0
        weight_decay = self.weight_decay if self.weight_decay is not None else 0.0
        for (index, variable, grad), scale in zip(work, scales):
            if variable.size == 0:
                continue
            step = {"learning_rate": learning_rate, "weight_decay": weight_decay,
                    "grad_scale": scale, "clip_value": clip_value}
            self._update_step(index, variable, grad, step)
        self._iterations += 1

    def _gradient_scales(self, grads):
        """The factor each gradient is multiplied by: clipnorm per tensor
        (``c / max(norm, c)``) or global_clipnorm (``c * min(1 / norm, 1 / c)``, NaN for
        a non-finite norm, as in Keras); 1 when off or when the norm is 0."""
        if self.clipnorm and self.clipnorm > 0:
            c = self.clipnorm
            return [c / max(math.sqrt(_core.sum_squares(g)), c) if g.size else 1.0
                    for g in grads]
        if self.global_clipnorm and self.global_clipnorm > 0:
            c = self.global_clipnorm
            norm = math.sqrt(sum(_core.sum_squares(g) for g in grads if g.size))
            if not math.isfinite(norm):
                scale = math.nan
            elif norm == 0:
                scale = 1.0
            else:
                scale = c * min(1.0 / norm, 1.0 / c)
            return [scale] * len(grads)
        return [1.0] * len(grads)

    def _slot(self, name, index):
        return self._slots[name][index] if name in self._slots else None

    def _update_step(self, index, variable, gradient, step):
        """One core call updating ``variable`` (and its slots, at ``index``) in place.

        ``step`` holds the core's shared keyword arguments: ``learning_rate``,
        ``weight_decay``, ``grad_scale`` and ``clip_value``.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement _update_step")

    # -- configuration -----------------------------------------------------------------

    def get_config(self):
        """The constructor arguments, JSON-compatible; a schedule learning rate is
        stored as ``{"class_name": ..., "config": {...}}``.

        Raises:
            ValueError: the learning rate is a plain callable (not serialisable; use a
                LearningRateSchedule).
        """
        lr = self._learning_rate
        if isinstance(lr, schedules.LearningRateSchedule):
            lr = schedules.serialize(lr)
        elif callable(lr):
            raise ValueError(
                f"{type(self).__name__}: a callable learning_rate cannot be serialised; "
                "use a LearningRateSchedule or a float")
        return {
            "name": self.name,
            "learning_rate": lr,
            "weight_decay": self.weight_decay,
            "clipnorm": self.clipnorm,
            "global_clipnorm": self.global_clipnorm,
            "clipvalue": self.clipvalue,
            "use_ema": self.use_ema,
            "ema_momentum": self.ema_momentum,
            "ema_overwrite_frequency": self.ema_overwrite_frequency,
            "loss_scale_factor": self.loss_scale_factor,
            "gradient_accumulation_steps": self.gradient_accumulation_steps,
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        """Creates an optimizer (without state) from :meth:`get_config`'s output.

        Args:
            config: the config dict; it is not modified.
            custom_objects: optional ``{name: class}`` for user-defined schedules.
        """
        config = dict(config)
        if isinstance(config.get("learning_rate"), dict):
            config["learning_rate"] = schedules.deserialize(
                config["learning_rate"], custom_objects=custom_objects)
        return cls(**config)

    def __repr__(self):
        return (f"<{type(self).__name__} name={self.name}, iterations={self._iterations}, "
                f"built={self.built}>")
