"""Utilities: seeding, label and sequence helpers, and the training progress bar."""

from gru_py.utils.data_utils import pad_sequences, set_random_seed, to_categorical
from gru_py.utils.progbar import Progbar

__all__ = ["Progbar", "pad_sequences", "set_random_seed", "to_categorical"]
