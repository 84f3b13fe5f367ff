"""Stochastic gradient descent, with optional (Nesterov) momentum."""

from gru_py._native import _core
from gru_py.optimizers.base import Optimizer, _in_range


class SGD(Optimizer):
    """Gradient descent with optional momentum, Keras 3's update rule.

    Without momentum: ``w -= learning_rate * g``. With momentum:
    ``velocity = momentum * velocity - learning_rate * g``, then ``w += velocity``, or
    with ``nesterov=True``, ``w += momentum * velocity - learning_rate * g``.

    Args:
        learning_rate: a float, a LearningRateSchedule or a callable; defaults to 0.01.
        momentum: in [0, 1]; 0 is plain gradient descent (and creates no slot).
        nesterov: whether to use Nesterov momentum.
        weight_decay, clipnorm, clipvalue, global_clipnorm, name, ...: see
            :class:`~gru_py.optimizers.Optimizer`.

    Raises:
        ValueError: ``momentum`` outside [0, 1].

    Slots (``variables``): one ``momentum`` per variable when ``momentum != 0``.
    """

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, weight_decay=None,
                 clipnorm=None, clipvalue=None, global_clipnorm=None, use_ema=False,
                 ema_momentum=0.99, ema_overwrite_frequency=None, loss_scale_factor=None,
                 gradient_accumulation_steps=None, name="SGD", **kwargs):
        super().__init__(
            learning_rate=learning_rate, weight_decay=weight_decay, clipnorm=clipnorm,
            clipvalue=clipvalue, global_clipnorm=global_clipnorm, use_ema=use_ema,
            ema_momentum=ema_momentum, ema_overwrite_frequency=ema_overwrite_frequency,
            loss_scale_factor=loss_scale_factor,
            gradient_accumulation_steps=gradient_accumulation_steps, name=name, **kwargs)
        self.momentum = _in_range("SGD", "momentum", momentum, 0.0, 1.0)
        self.nesterov = bool(nesterov)

    def _slot_specs(self):
        return [("momentum", 0.0)] if self.momentum != 0 else []

    def _update_step(self, index, variable, gradient, step):
        _core.sgd_update(variable, gradient, self._slot("momentum", index),
                         momentum=self.momentum, nesterov=self.nesterov, **step)

    def get_config(self):
        config = super().get_config()
        config.update({"momentum": self.momentum, "nesterov": self.nesterov})
        return config
