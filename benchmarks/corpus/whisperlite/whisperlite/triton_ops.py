from functools import lru_cache

import numpy as np
import torch

try:
    import triton
    import triton.language as tl
except ImportError:
    raise RuntimeError("triton import failed; try `pip install --pre triton`")


@lru_cache()
def median_kernel(filter_width: int):
    return triton.jit(tl)


def median_filter_cuda(x: torch.Tensor, filter_width: int):
    return np.asarray(x)
