"""RMSprop, plain or centered, with optional momentum."""

from gru_py._native import _core
from gru_py.optimizers.base import Optimizer, _in_range, _non_negative


class RMSprop(Optimizer):
    """RMSprop, Keras 3's update rule:

    ``velocity = rho * velocity + (1 - rho) g^2``. Centered:
    ``average_grad = rho * average_grad + (1 - rho) g`` and
    ``den = velocity - average_grad^2 + epsilon``; otherwise ``den = velocity + epsilon``.
    ``increment = learning_rate * g / sqrt(den)`` (epsilon inside the square root).
    With momentum: ``momentum_buf = momentum * momentum_buf + increment``,
    ``w -= momentum_buf``; otherwise ``w -= increment``.

    Args:
        learning_rate: a float, a LearningRateSchedule or a callable; defaults to 0.001.
        rho: discount factor of the squared-gradient average, in [0, 1].
        momentum: non-negative; 0 (the default) disables momentum and its slot.
        epsilon: non-negative constant for numerical stability.
        centered: whether to normalise by the estimated variance of the gradient.
        weight_decay, clipnorm, clipvalue, global_clipnorm, name, ...: see
            :class:`~gru_py.optimizers.Optimizer`.

    Raises:
        ValueError: ``rho`` outside [0, 1], negative ``momentum`` or ``epsilon``.

    Slots (``variables``): all ``velocity`` arrays, then all ``momentum`` arrays (when
    ``momentum > 0``), then all ``average_gradient`` arrays (when ``centered``).
    """

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7,
                 centered=False, weight_decay=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, use_ema=False, ema_momentum=0.99,
                 ema_overwrite_frequency=None, loss_scale_factor=None,
                 gradient_accumulation_steps=None, name="rmsprop", **kwargs):
        super().__init__(
            learning_rate=learning_rate, weight_decay=weight_decay, clipnorm=clipnorm,
            clipvalue=clipvalue, global_clipnorm=global_clipnorm, use_ema=use_ema,
            ema_momentum=ema_momentum, ema_overwrite_frequency=ema_overwrite_frequency,
            loss_scale_factor=loss_scale_factor,
            gradient_accumulation_steps=gradient_accumulation_steps, name=name, **kwargs)
        self.rho = _in_range("RMSprop", "rho", rho, 0.0, 1.0)
        self.momentum = _non_negative("RMSprop", "momentum", momentum)
        self.epsilon = _non_negative("RMSprop", "epsilon", epsilon)
        self.centered = bool(centered)

    def _slot_specs(self):
        specs = [("velocity", 0.0)]
        if self.momentum > 0:
            specs.append(("momentum", 0.0))
        if self.centered:
            specs.append(("average_gradient", 0.0))
        return specs

    def _update_step(self, index, variable, gradient, step):
        _core.rmsprop_update(
            variable, gradient, self._slot("velocity", index), self._slot("momentum", index),
            self._slot("average_gradient", index), rho=self.rho, momentum=self.momentum,
            epsilon=self.epsilon, **step)

    def get_config(self):
        config = super().get_config()
        config.update({"rho": self.rho, "momentum": self.momentum, "epsilon": self.epsilon,
                       "centered": self.centered})
        return config
