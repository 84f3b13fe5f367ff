"""The scenarios' models as PyTorch modules, loaded with the shared Keras-layout weights
(API_SPEC.md §2, reverse mapping), and the mapping of gradients back to Keras' layout.
Used by the torch peer and, for the export, by the ONNX Runtime peer."""

import numpy as np
import scenarios as sc
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence


def _reorder(w, H):
    """Keras gate columns [z | r | h] -> PyTorch rows [r | z | n] (and back: the swap of
    the first two blocks is its own inverse)."""
    return np.concatenate([w[H:2 * H], w[:H], w[2 * H:]], axis=0)


def keras_to_torch_gru(kernel, recurrent_kernel, bias):
    """(I, 3H), (H, 3H), (2, 3H) -> weight_ih (3H, I), weight_hh (3H, H), b_ih, b_hh."""
    H = recurrent_kernel.shape[0]
    return (_reorder(kernel.T, H), _reorder(recurrent_kernel.T, H),
            _reorder(bias[0], H), _reorder(bias[1], H))


def keras_to_torch_lstm(kernel, recurrent_kernel, bias):
    """(I, 4H), (H, 4H), (4H,) -> weight_ih (4H, I), weight_hh (4H, H), b_ih, b_hh. The
    gate order [i | f | c (PyTorch's g) | o] is the same; only the sum b_ih + b_hh acts,
    so Keras' one bias goes to b_ih and b_hh is zero."""
    return kernel.T, recurrent_kernel.T, bias, np.zeros_like(bias)


def torch_to_keras_gru(weight_ih, weight_hh, b_ih, b_hh):
    H = weight_hh.shape[1]
    return (_reorder(weight_ih, H).T, _reorder(weight_hh, H).T,
            np.stack([_reorder(b_ih, H), _reorder(b_hh, H)]))


def _set(param, value):
    with torch.no_grad():
        param.copy_(torch.from_numpy(np.ascontiguousarray(value, dtype=np.float32)))


def load_rnn(module, kernel, recurrent_kernel, bias, suffix="_l0"):
    """Loads Keras weights into an nn.GRU or nn.LSTM (suffix "_l0") or an nn.GRUCell
    (suffix "")."""
    to_torch = keras_to_torch_lstm if isinstance(module, nn.LSTM) else keras_to_torch_gru
    w_ih, w_hh, b_ih, b_hh = to_torch(kernel, recurrent_kernel, bias)
    _set(getattr(module, "weight_ih" + suffix), w_ih)
    _set(getattr(module, "weight_hh" + suffix), w_hh)
    _set(getattr(module, "bias_ih" + suffix), b_ih)
    _set(getattr(module, "bias_hh" + suffix), b_hh)
    return module


def gru_grads_keras(module, suffix="_l0"):
    """The module's parameter gradients in Keras layout: kernel, recurrent_kernel, bias."""
    g = [getattr(module, n + suffix).grad.detach().numpy()
         for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
    return torch_to_keras_gru(*g)


def single_rnn(name, weights):
    """The nn.GRU or nn.LSTM of a single-layer scenario, batch first, with its weights."""
    p = sc.SHAPES[name]
    module = getattr(nn, sc.LAYERS[name])(p["I"], p["H"], batch_first=True)
    return load_rnn(module, *weights)


class S2Net(nn.Module):
    """GRU(128, return_sequences) -> GRU(64) -> Dense(10); returns logits (the softmax is
    applied by the caller: log_softmax in the loss, softmax for predictions).

    Given ``lengths`` (S2M), the GRUs run over packed sequences, which stop each row at
    its length: the last state is then the state at the row's last step, as Keras' mask
    gives it (the state carried over the padding)."""

    def __init__(self, p):
        super().__init__()
        self.gru1 = nn.GRU(p["F"], p["H1"], batch_first=True)
        self.gru2 = nn.GRU(p["H1"], p["H2"], batch_first=True)
        self.dense = nn.Linear(p["H2"], p["C"])

    def forward(self, x, lengths=None):
        if lengths is not None:
            x = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        y, _ = self.gru1(x)
        _, h = self.gru2(y)
        return self.dense(h[0])

    def load_keras(self, weights):
        load_rnn(self.gru1, *weights[0:3])
        load_rnn(self.gru2, *weights[3:6])
        _set(self.dense.weight, weights[6].T)
        _set(self.dense.bias, weights[7])
        return self

    def grads_keras(self):
        return (list(gru_grads_keras(self.gru1)) + list(gru_grads_keras(self.gru2))
                + [self.dense.weight.grad.numpy().T, self.dense.bias.grad.numpy()])


class S2Probs(nn.Module):
    """S2Net with the softmax, for prediction and the ONNX export."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        return torch.softmax(self.net(x), dim=-1)


class OutputsOnly(nn.Module):
    """nn.GRU or nn.LSTM returning its output sequence only (for the ONNX export)."""

    def __init__(self, rnn):
        super().__init__()
        self.rnn = rnn

    def forward(self, x):
        return self.rnn(x)[0]


class GRUStep(nn.Module):
    """One step of an nn.GRU from a given state: (x (B, 1, I), h (1, B, H)) -> h_n."""

    def __init__(self, gru):
        super().__init__()
        self.gru = gru

    def forward(self, x, h):
        _, h_n = self.gru(x, h)
        return h_n


def crossentropy(logits, y):
    """Keras' categorical crossentropy on softmax outputs (mean over the batch)."""
    return -(y * torch.log_softmax(logits, dim=-1)).sum(dim=-1).mean()
