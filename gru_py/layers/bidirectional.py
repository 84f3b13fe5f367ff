"""Bidirectional: runs a recurrent layer forwards and a copy of it backwards in time over
the same input and merges their outputs, with Keras 3's semantics.

Nothing here knows how many states a recurrent layer has (GRU one, LSTM two, a stack one
per cell): the forward and backward layers' states are counted from what their calls
return, and their gradients are routed back by those counts.

Dimension letters: B batch, T timesteps, I input features, H units.
"""

import numpy as np

from gru_py.layers.rnn import RNN
from gru_py.layers.wrapper import Wrapper

MERGE_MODES = ("concat", "sum", "mul", "ave", None)


class Bidirectional(Wrapper):
    """Bidirectional wrapper for recurrent layers (Keras 3 ``Bidirectional``).

    The forward layer is a fresh copy of ``layer`` (made from its config, so it does not
    share ``layer``'s weights) named ``forward_<name>``; the backward layer is
    ``backward_layer``, or else a copy named ``backward_<name>`` with
    ``go_backwards=True``. The wrapper's weights are the forward layer's, then the
    backward layer's.

    Args:
        layer: a recurrent layer (``GRU``, ``RNN``, ...) that processes time forwards.
        merge_mode: how the two outputs are combined: "concat" (along the last axis,
            forward first), "sum", "mul", "ave", or None for both outputs, as a list
            ``[forward, backward]``.
        weights: initial weights, forward layer's then backward layer's, set when the
            layer is built.
        backward_layer: the recurrent layer to run backwards; it must have the opposite
            ``go_backwards`` of ``layer`` and the same ``return_sequences`` and
            ``return_state``. It is used as given (not copied).
        **kwargs: the base Layer's arguments (``name``, ``trainable``, ...).

    With ``return_sequences`` the backward layer's sequence (in its processing order) is
    reversed in time before merging, so that step t of both halves describes input step t.
    With ``return_state`` a call returns the merged output (both outputs for
    ``merge_mode=None``), then the forward layer's states, then the backward layer's.

    Raises:
        ValueError: ``layer`` or ``backward_layer`` is not a recurrent layer, an unknown
            ``merge_mode``, ``layer`` with ``go_backwards=True`` and no
            ``backward_layer``, mismatched forward and backward layers, or ``weights``
            that is not a list of arrays.
    """

    def __init__(self, layer, merge_mode="concat", weights=None, backward_layer=None,
                 **kwargs):
        _check_recurrent("layer", layer)
        if backward_layer is not None:
            _check_recurrent("backward_layer", backward_layer)
        if merge_mode not in MERGE_MODES:
            raise ValueError(
                f"Bidirectional: merge_mode must be one of {list(MERGE_MODES)}, got "
                f"{merge_mode!r}")
        if weights is not None and not isinstance(weights, (list, tuple)):
            raise ValueError(
                f"Bidirectional: weights must be a list of arrays (the forward layer's, then "
                f"the backward layer's), got {type(weights).__name__}")
        if backward_layer is None and layer.go_backwards:
            # Keras 3 would make both copies go backwards and then reject the pair.
            raise ValueError(
                f"Bidirectional: layer must process time forwards (go_backwards=False) "
                f"when no backward_layer is given, got {layer.name!r} with go_backwards=True")
        forward_layer = _copy(layer, "forward_")
        if backward_layer is None:
            backward_layer = _copy(layer, "backward_", go_backwards=True)
        _check_pair(forward_layer, backward_layer)
        # As in Keras: with masks, a skipped step's output is zeros in both halves rather
        # than a repeated output, which would come from different steps in each half.
        for inner in (forward_layer, backward_layer):
            inner.zero_output_for_mask = inner.return_sequences
        super().__init__(forward_layer, **kwargs)
        self.forward_layer = forward_layer
        self.backward_layer = backward_layer
        self.merge_mode = merge_mode
        self.return_sequences = forward_layer.return_sequences
        self.return_state = forward_layer.return_state
        self._initial_weights = list(weights) if weights else None
        self._saved = None
        self._given_initial_state = False

    @property
    def _inner_layers(self):
        return [self.forward_layer, self.backward_layer]

    def build(self, input_shape):
        """Builds both layers for (batch, timesteps, features) inputs."""
        self._build_inner(input_shape)
        # Checked here too, so that eager calls fail before computing, as symbolic ones do.
        self.compute_output_shape(input_shape)
        if self._initial_weights is not None:
            self.set_weights(self._initial_weights)
            self._initial_weights = None

    def compute_output_shape(self, input_shape):
        forward = _shape_list(self.forward_layer.compute_output_shape(input_shape))
        backward = _shape_list(self.backward_layer.compute_output_shape(input_shape))
        out_f, out_b = forward[0], backward[0]
        if self.merge_mode is None:
            outputs = [out_f, out_b]
        elif self.merge_mode == "concat":
            outputs = [out_f[:-1] + (out_f[-1] + out_b[-1],)]
        else:
            if out_f != out_b:
                raise ValueError(
                    f"Bidirectional: merge_mode={self.merge_mode!r} needs forward and "
                    f"backward outputs of the same shape, got {out_f} and {out_b}")
            outputs = [out_f]
        shapes = outputs + forward[1:] + backward[1:]
        return shapes if len(shapes) > 1 else shapes[0]

    def call(self, inputs, initial_state=None, mask=None, training=False):
        """Runs both layers over the sequences and merges their outputs.

        Args:
            inputs: (B, T, I).
            initial_state: None (zeros), or a list of an even number of (B, H) arrays:
                the first half for the forward layer, the second for the backward one.
            mask: (B, T) bool or None, passed unchanged to both layers; the backward
                layer reverses it together with the input.
            training: keep what :meth:`backward` needs.

        Returns:
            The merged output, (B, T, H_out) with ``return_sequences`` else (B, H_out),
            where H_out is the sum of both layers' units for "concat" and H otherwise;
            for ``merge_mode=None`` the two outputs. With ``return_state`` or
            ``merge_mode=None``, a tuple: the output(s), then the forward layer's
            states, then the backward layer's.
        """
        forward_state, backward_state = _split_initial_state(initial_state)
        out_f, *states_f = _as_outputs(self.forward_layer.call(
            inputs, initial_state=forward_state, mask=mask, training=training))
        out_b, *states_b = _as_outputs(self.backward_layer.call(
            inputs, initial_state=backward_state, mask=mask, training=training))
        # Each inner layer's activity regularizer sees its own output, as in its own call.
        self.forward_layer._track_activity([out_f], training)
        self.backward_layer._track_activity([out_b], training)
        if self.return_sequences:
            out_b = out_b[:, ::-1]
        self._saved = (out_f, out_b, len(states_f)) if training else None
        self._given_initial_state = initial_state is not None
        outputs = self._merge(out_f, out_b) + states_f + states_b
        return tuple(outputs) if len(outputs) > 1 else outputs[0]

    def _merge(self, out_f, out_b):
        """The merged output as a list: one array, or both for merge_mode None."""
        if self.merge_mode is None:
            # out_b may be a time-reversed view: hand out an array of its own
            return [out_f, np.ascontiguousarray(out_b)]
        if self.merge_mode == "concat":
            return [np.concatenate([out_f, out_b], axis=-1)]
        if self.merge_mode == "sum":
            return [out_f + out_b]
        if self.merge_mode == "ave":
            return [(out_f + out_b) * np.float32(0.5)]
        return [out_f * out_b]

    def _unmerge(self, d_outputs, out_f, out_b):
        """(d out_f, d out_b) from the gradients of the merged output(s)."""
        if self.merge_mode is None:
            return d_outputs[0], d_outputs[1]
        d = d_outputs[0]
        if d is None:
            return None, None
        merged_shape = self._merge_shape(out_f, out_b)
        if np.shape(d) != merged_shape:
            raise ValueError(
                f"{self.name}: the output gradient must have the output's shape "
                f"{merged_shape}, got {np.shape(d)}")
        d = np.asarray(d, dtype=np.float32)
        if self.merge_mode == "concat":
            units = out_f.shape[-1]
            return d[..., :units], d[..., units:]
        if self.merge_mode == "sum":
            return d, d
        if self.merge_mode == "ave":
            half = d * np.float32(0.5)
            return half, half
        return d * out_b, d * out_f

    def _merge_shape(self, out_f, out_b):
        if self.merge_mode == "concat":
            return out_f.shape[:-1] + (out_f.shape[-1] + out_b.shape[-1],)
        return out_f.shape

    def backward(self, *d_outputs, input_gradient=True):
        """Backpropagates through the last ``training=True`` call.

        Args:
            *d_outputs: gradients aligned with the call's outputs (None for an output
                that received none; trailing ones may be left out).
            input_gradient: False skips the gradient w.r.t. the inputs (returned as
                None), for inputs that are data.

        Returns:
            ``(d_inputs, d_initial_states)``: (B, T, I) or None, and a list with the
            forward layer's initial-state gradients followed by the backward layer's.
            Parameter gradients are added into ``self.gradients``.
        """
        if self._saved is None:
            raise RuntimeError(f"{self.name}: backward needs a preceding call with training=True")
        out_f, out_b, forward_states = self._saved
        outputs = 2 if self.merge_mode is None else 1
        d_main = list(d_outputs[:outputs])
        d_main += [None] * (outputs - len(d_main))
        d_states = list(d_outputs[outputs:])
        d_f, d_b = self._unmerge(d_main, out_f, out_b)
        if d_b is not None and self.return_sequences:
            d_b = np.ascontiguousarray(d_b[:, ::-1])  # back into the processing order
        d_f = self.forward_layer._with_activity_gradient(d_f)
        d_b = self.backward_layer._with_activity_gradient(d_b)
        d_x_f, d_initial_f = self.forward_layer.backward(
            d_f, *d_states[:forward_states], input_gradient=input_gradient)
        d_x_b, d_initial_b = self.backward_layer.backward(
            d_b, *d_states[forward_states:], input_gradient=input_gradient)
        self._saved = None
        d_x = d_x_f + d_x_b if input_gradient else None
        return d_x, list(d_initial_f) + list(d_initial_b)

    def compute_mask(self, inputs, mask=None):
        """The input's mask for each sequence output (None without return_sequences),
        None for the states."""
        output_mask = mask if self.return_sequences else None
        masks = [output_mask] * (2 if self.merge_mode is None else 1)
        if self.return_state:
            masks += [None] * (self.forward_layer._state_total
                               + self.backward_layer._state_total)
        return masks if len(masks) > 1 else masks[0]

    def _graph_forward(self, inputs, keyword_inputs, training, mask=None):
        outputs = _as_outputs(self.call(
            inputs, initial_state=keyword_inputs.get("initial_state"), mask=mask,
            training=training))
        self._track_activity(outputs, training)
        return outputs

    def _graph_backward(self, d_outputs, input_gradient=True):
        d_outputs = [self._with_activity_gradient(d_outputs[0])] + list(d_outputs[1:])
        d_x, d_initial = self.backward(*d_outputs, input_gradient=input_gradient)
        return d_x, ({"initial_state": d_initial} if self._given_initial_state else {})

    def get_config(self):
        from gru_py.layers import serialize

        config = super().get_config()
        config.update(merge_mode=self.merge_mode, backward_layer=serialize(self.backward_layer))
        return config

    @classmethod
    def from_config(cls, config):
        from gru_py.layers import deserialize

        config = dict(config)
        if config.get("backward_layer") is not None:
            config["backward_layer"] = deserialize(config["backward_layer"])
        return super().from_config(config)


def _check_recurrent(argument, layer):
    if not isinstance(layer, RNN):
        raise ValueError(
            f"Bidirectional: {argument} must be a recurrent layer (an RNN such as GRU), "
            f"got {layer!r}")


def _copy(layer, prefix, **overrides):
    """A new layer from ``layer``'s config, named ``prefix + name`` (a name that already
    carries the prefix keeps it once), with fresh weights."""
    config = layer.get_config()
    config.update(name=prefix + layer.name.removeprefix(prefix), **overrides)
    return type(layer).from_config(config)


def _check_pair(forward_layer, backward_layer):
    """Keras' requirements on a forward and a backward layer."""
    if forward_layer.go_backwards == backward_layer.go_backwards:
        raise ValueError(
            f"Bidirectional: backward_layer must have the opposite go_backwards of layer, "
            f"got go_backwards={backward_layer.go_backwards} for both")
    for attribute in ("return_sequences", "return_state"):
        forward_value = getattr(forward_layer, attribute)
        backward_value = getattr(backward_layer, attribute)
        if forward_value != backward_value:
            raise ValueError(
                f"Bidirectional: layer and backward_layer must have the same {attribute}, "
                f"got {forward_value} for layer and {backward_value} for backward_layer")


def _split_initial_state(initial_state):
    """(forward half, backward half) of an initial_state list, or (None, None)."""
    if initial_state is None:
        return None, None
    states = list(initial_state) if isinstance(initial_state, (list, tuple)) else None
    if not states or len(states) % 2:
        received = f"{len(states)} arrays" if states is not None else \
            f"a single {type(initial_state).__name__}"
        raise ValueError(
            "Bidirectional: initial_state must be a list of an even number of arrays (the "
            f"forward layer's states, then the backward layer's), got {received}")
    half = len(states) // 2
    return states[:half], states[half:]


def _as_outputs(result):
    """A layer call's result as a list of outputs."""
    return list(result) if isinstance(result, tuple) else [result]


def _shape_list(shapes):
    """compute_output_shape's result as a list of tuples."""
    return [tuple(s) for s in shapes] if isinstance(shapes, list) else [tuple(shapes)]
