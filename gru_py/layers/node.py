"""Symbolic tensors and graph nodes: what the functional API builds.

Calling a layer on a :class:`KerasTensor` (from ``gru_py.Input``) computes nothing: it
records a :class:`Node` (the layer, the tensors it consumed, the tensors it produced)
and returns new symbolic tensors carrying the output shapes. ``gru_py.Model(inputs,
outputs)`` walks these nodes back from the outputs to build its graph.
"""


class KerasTensor:
    """A placeholder for an array in a model being defined.

    Attributes:
        shape: tuple with None for unknown sizes (the batch axis, a free time axis).
        dtype: "float32", or "int32" for integer inputs such as token ids.
        name: a name for messages and model summaries.
        node: the :class:`Node` that produced it.
        index: which of that node's outputs it is.
    """

    def __init__(self, shape, dtype="float32", name=None, node=None, index=0):
        self.shape = tuple(shape)
        self.dtype = dtype
        self.name = name
        self.node = node
        self.index = index

    @property
    def ndim(self):
        return len(self.shape)

    def __repr__(self):
        return f"<KerasTensor shape={self.shape}, dtype={self.dtype}, name={self.name}>"

    def __array__(self, *args, **kwargs):
        raise TypeError(
            "A symbolic KerasTensor (from gru_py.Input) has no values: build a "
            "gru_py.Model(inputs, outputs) and call it, or call predict(), on NumPy arrays")


class Node:
    """One call of a layer inside a functional model.

    Attributes:
        layer: the layer called.
        inputs: the KerasTensors passed as the main input, in order.
        inputs_is_list: whether the layer received them as a list (merge layers).
        keyword_inputs: {keyword: [KerasTensor, ...]} for symbolic keyword arguments
            such as a recurrent layer's ``initial_state``.
        outputs: the KerasTensors produced.
    """

    def __init__(self, layer, inputs, inputs_is_list, keyword_inputs):
        self.layer = layer
        self.inputs = list(inputs)
        self.inputs_is_list = inputs_is_list
        self.keyword_inputs = {k: list(v) for k, v in keyword_inputs.items()}
        self.outputs = []

    @property
    def all_inputs(self):
        """Every input tensor: the main ones, then the keyword ones in keyword order."""
        keyword = [t for k in sorted(self.keyword_inputs) for t in self.keyword_inputs[k]]
        return self.inputs + keyword


def is_symbolic(value):
    """True for a KerasTensor, or a list/tuple holding one."""
    if isinstance(value, KerasTensor):
        return True
    return isinstance(value, (list, tuple)) and any(isinstance(v, KerasTensor) for v in value)
