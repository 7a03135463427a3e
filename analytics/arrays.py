"""Growing numpy arrays in place of fixed sizes. No I/O, no state."""
from __future__ import annotations

import numpy as np


def grown(array: np.ndarray, size: int) -> np.ndarray:
    """array with its first axis grown to size, the new places zero."""
    bigger = np.zeros((size, *array.shape[1:]), dtype=array.dtype)
    bigger[: len(array)] = array
    return bigger


def resident_zeros(size: int, dtype: np.dtype = np.dtype(np.int32)) -> np.ndarray:
    """Zeros whose memory is taken now. np.zeros maps pages the OS fills in at first write,
    so an array made to hold its size from the start would still grow the process later."""
    return np.full(size, 0, dtype=dtype)
