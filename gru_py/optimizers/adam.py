"""Adam and AdamW (Adam with decoupled weight decay)."""

from gru_py._native import _core
from gru_py.optimizers.base import Optimizer, _in_range, _non_negative


class Adam(Optimizer):
    """Adam, Keras 3's update rule (with t = iterations + 1):

    ``m += (g - m)(1 - beta_1)``; ``v += (g^2 - v)(1 - beta_2)``;
    ``alpha = learning_rate * sqrt(1 - beta_2^t) / (1 - beta_1^t)``;
    ``w -= alpha * m / (sqrt(v) + epsilon)``. With ``amsgrad``,
    ``v_hat = max(v_hat, v)`` replaces ``v`` in the last formula. ``epsilon`` is added
    to the uncorrected ``sqrt(v)`` (Keras' "epsilon hat"; PyTorch's Adam differs).

    Args:
        learning_rate: a float, a LearningRateSchedule or a callable; defaults to 0.001.
        beta_1: decay rate of the first-moment estimate, in [0, 1).
        beta_2: decay rate of the second-moment estimate, in [0, 1).
        epsilon: non-negative constant for numerical stability.
        amsgrad: whether to use the AMSGrad variant.
        weight_decay, clipnorm, clipvalue, global_clipnorm, name, ...: see
            :class:`~gru_py.optimizers.Optimizer`.

    Raises:
        ValueError: ``beta_1`` or ``beta_2`` outside [0, 1), negative ``epsilon``.

    Slots (``variables``): all ``momentum`` arrays, then all ``velocity`` arrays, then,
    with ``amsgrad``, all ``velocity_hat`` arrays.
    """

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 amsgrad=False, weight_decay=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, use_ema=False, ema_momentum=0.99,
                 ema_overwrite_frequency=None, loss_scale_factor=None,
                 gradient_accumulation_steps=None, name="adam", **kwargs):
        super().__init__(
            learning_rate=learning_rate, weight_decay=weight_decay, clipnorm=clipnorm,
            clipvalue=clipvalue, global_clipnorm=global_clipnorm, use_ema=use_ema,
            ema_momentum=ema_momentum, ema_overwrite_frequency=ema_overwrite_frequency,
            loss_scale_factor=loss_scale_factor,
            gradient_accumulation_steps=gradient_accumulation_steps, name=name, **kwargs)
        owner = type(self).__name__
        self.beta_1 = _in_range(owner, "beta_1", beta_1, 0.0, 1.0, high_open=True)
        self.beta_2 = _in_range(owner, "beta_2", beta_2, 0.0, 1.0, high_open=True)
        self.epsilon = _non_negative(owner, "epsilon", epsilon)
        self.amsgrad = bool(amsgrad)

    def _slot_specs(self):
        specs = [("momentum", 0.0), ("velocity", 0.0)]
        if self.amsgrad:
            specs.append(("velocity_hat", 0.0))
        return specs

    def _update_step(self, index, variable, gradient, step):
        _core.adam_update(
            variable, gradient, self._slot("momentum", index), self._slot("velocity", index),
            self._slot("velocity_hat", index), beta_1=self.beta_1, beta_2=self.beta_2,
            epsilon=self.epsilon, iteration=float(self.iterations + 1), **step)

    def get_config(self):
        config = super().get_config()
        config.update({"beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon,
                       "amsgrad": self.amsgrad})
        return config


class AdamW(Adam):
    """Adam with decoupled weight decay: ``w -= w * weight_decay * learning_rate`` before
    each Adam step (Loshchilov and Hutter).

    Args:
        learning_rate: a float, a LearningRateSchedule or a callable; defaults to 0.001.
        weight_decay: the decay factor; defaults to 0.004 and must not be None.
        beta_1, beta_2, epsilon, amsgrad: as for :class:`Adam`.
        clipnorm, clipvalue, global_clipnorm, name, ...: see
            :class:`~gru_py.optimizers.Optimizer`.

    Raises:
        ValueError: ``weight_decay=None``, or an invalid Adam argument.
    """

    def __init__(self, learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999,
                 epsilon=1e-7, amsgrad=False, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, use_ema=False, ema_momentum=0.99,
                 ema_overwrite_frequency=None, loss_scale_factor=None,
                 gradient_accumulation_steps=None, name="adamw", **kwargs):
        if weight_decay is None:
            raise ValueError("AdamW: weight_decay must be a float, got None")
        super().__init__(
            learning_rate=learning_rate, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon,
            amsgrad=amsgrad, weight_decay=weight_decay, clipnorm=clipnorm,
            clipvalue=clipvalue, global_clipnorm=global_clipnorm, use_ema=use_ema,
            ema_momentum=ema_momentum, ema_overwrite_frequency=ema_overwrite_frequency,
            loss_scale_factor=loss_scale_factor,
            gradient_accumulation_steps=gradient_accumulation_steps, name=name, **kwargs)
