"""Growing numpy arrays in place of fixed sizes. No I/O, no state."""
from __future__ import annotations

import numpy as np


def grown(array: np.ndarray, size: int) -> np.ndarray:
    """array with its first axis grown to size, the new places zero."""
    bigger = np.zeros((size, *array.shape[1:]), dtype=array.dtype)
    bigger[: len(array)] = array
    return bigger
