from typing import Any, Callable, Sequence

from flax import linen as nn
import jax.numpy as jnp

print(Any, Callable, Sequence, nn, jnp)
