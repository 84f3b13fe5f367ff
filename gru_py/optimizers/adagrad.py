"""Adagrad."""

from gru_py._native import _core
from gru_py.optimizers.base import Optimizer, _non_negative


class Adagrad(Optimizer):
    """Adagrad, Keras 3's update rule: ``accumulator += g^2``;
    ``w -= learning_rate * g / sqrt(accumulator + epsilon)``.

    Args:
        learning_rate: a float, a LearningRateSchedule or a callable; defaults to 0.001
            (Adagrad often wants more; the original paper's form uses 1.0).
        initial_accumulator_value: non-negative starting value of the accumulators.
        epsilon: non-negative constant for numerical stability.
        weight_decay, clipnorm, clipvalue, global_clipnorm, name, ...: see
            :class:`~gru_py.optimizers.Optimizer`.

    Raises:
        ValueError: negative ``initial_accumulator_value`` or ``epsilon``.

    Slots (``variables``): one ``accumulator`` per variable.
    """

    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7,
                 weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None,
                 use_ema=False, ema_momentum=0.99, ema_overwrite_frequency=None,
                 loss_scale_factor=None, gradient_accumulation_steps=None, name="adagrad",
                 **kwargs):
        super().__init__(
            learning_rate=learning_rate, weight_decay=weight_decay, clipnorm=clipnorm,
            clipvalue=clipvalue, global_clipnorm=global_clipnorm, use_ema=use_ema,
            ema_momentum=ema_momentum, ema_overwrite_frequency=ema_overwrite_frequency,
            loss_scale_factor=loss_scale_factor,
            gradient_accumulation_steps=gradient_accumulation_steps, name=name, **kwargs)
        self.initial_accumulator_value = _non_negative(
            "Adagrad", "initial_accumulator_value", initial_accumulator_value)
        self.epsilon = _non_negative("Adagrad", "epsilon", epsilon)

    def _slot_specs(self):
        return [("accumulator", self.initial_accumulator_value)]

    def _update_step(self, index, variable, gradient, step):
        _core.adagrad_update(variable, gradient, self._slot("accumulator", index),
                             epsilon=self.epsilon, **step)

    def get_config(self):
        config = super().get_config()
        config.update({"initial_accumulator_value": self.initial_accumulator_value,
                       "epsilon": self.epsilon})
        return config
