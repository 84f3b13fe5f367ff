"""The functional graph: the nodes between a model's inputs and outputs, run forward
and backward.

Built from the KerasTensors of ``gru_py.Input`` and layer calls. Forward runs the nodes
in topological order, passing each tensor's mask along with it; backward runs them in
reverse, summing the gradients of a tensor that feeds several layers.
"""

import numpy as np

from gru_py.layers.core import InputLayer
from gru_py.layers.node import KerasTensor


def _as_tensor_list(value, argument):
    values = list(value) if isinstance(value, (list, tuple)) else [value]
    if not values or not all(isinstance(v, KerasTensor) for v in values):
        raise TypeError(
            f"Model: {argument} must be KerasTensors (from gru_py.Input and layer calls), "
            f"got {value!r}")
    return values


class Graph:
    """The computation from ``inputs`` to ``outputs``.

    Attributes:
        inputs, outputs: lists of KerasTensors.
        nodes: the layer calls, inputs first, in an order that respects dependencies.
        layers: the distinct layers, in that order.
    """

    def __init__(self, inputs, outputs):
        self.inputs = _as_tensor_list(inputs, "inputs")
        self.outputs = _as_tensor_list(outputs, "outputs")
        for t in self.inputs:
            if not isinstance(t.node.layer, InputLayer):
                raise ValueError(
                    f"Model: every input must come from gru_py.Input, got {t!r}")
        self.nodes = self._topological_nodes()
        self.layers = []
        for node in self.nodes:
            if node.layer in self.layers:
                raise NotImplementedError(
                    f"Model: layer '{node.layer.name}' is called more than once; shared "
                    "layers are not supported yet")
            self.layers.append(node.layer)

    def _topological_nodes(self):
        """Depth-first from the outputs; a node comes after every node it reads."""
        order, state = [], {}
        input_ids = {id(t) for t in self.inputs}

        def visit(tensor):
            node = tensor.node
            if state.get(id(node)) == "done":
                return
            if state.get(id(node)) == "active":
                raise ValueError("Model: the graph has a cycle")
            if isinstance(node.layer, InputLayer) and id(tensor) not in input_ids:
                raise ValueError(
                    f"Model: output depends on input {tensor.name!r}, which is not among the "
                    "model's inputs")
            state[id(node)] = "active"
            for t in node.all_inputs:
                visit(t)
            state[id(node)] = "done"
            order.append(node)

        for t in self.outputs:
            visit(t)
        # Inputs first, in the order the user listed them.
        input_nodes = [t.node for t in self.inputs]
        return input_nodes + [n for n in order if n not in input_nodes]

    def forward(self, values, training):
        """Runs the graph on a list of input arrays.

        Returns:
            (outputs, masks): the output arrays, and the mask of each (None for an
            output without one). Each layer receives the mask of its main input and
            gives the masks of its outputs (Keras' propagation).
        """
        self._values = {id(t): v for t, v in zip(self.inputs, values)}
        masks = {}  # id(tensor) -> mask, for the tensors that carry one
        for node in self.nodes:
            if isinstance(node.layer, InputLayer):
                continue
            main = [self._values[id(t)] for t in node.inputs]
            main_masks = [masks.get(id(t)) for t in node.inputs]
            if not node.inputs_is_list:
                main, main_masks = main[0], main_masks[0]
            keyword = {k: [self._values[id(t)] for t in ts]
                       for k, ts in node.keyword_inputs.items()}
            outs = node.layer._graph_forward(main, keyword, training, mask=main_masks)
            out_masks = node.layer._output_masks(main, main_masks, len(outs))
            for t, v, m in zip(node.outputs, outs, out_masks):
                self._values[id(t)] = v
                if m is not None:
                    masks[id(t)] = m
        return ([self._values[id(t)] for t in self.outputs],
                [masks.get(id(t)) for t in self.outputs])

    def backward(self, d_outputs):
        """Backpropagates the gradients of the outputs through the last forward."""
        grads = {}

        def add(tensor, grad):
            if grad is None:
                return
            key = id(tensor)
            grads[key] = grad if key not in grads else grads[key] + grad

        for t, d in zip(self.outputs, d_outputs):
            add(t, d)
        for node in reversed(self.nodes):
            if isinstance(node.layer, InputLayer):
                continue
            d_outs = [grads.get(id(t)) for t in node.outputs]
            if all(d is None for d in d_outs):
                continue  # nothing downstream of this call reaches the loss
            if d_outs[0] is None:
                d_outs[0] = np.zeros_like(self._values[id(node.outputs[0])])
            # The gradient of a main input that is a model input (data) has no use.
            from_data = all(isinstance(t.node.layer, InputLayer) for t in node.inputs)
            d_main, d_keyword = node.layer._graph_backward(d_outs, input_gradient=not from_data)
            d_main = d_main if node.inputs_is_list else [d_main]
            for t, d in zip(node.inputs, d_main):
                add(t, d)
            for key, ds in d_keyword.items():
                for t, d in zip(node.keyword_inputs[key], ds):
                    add(t, d)
        self._values = None
