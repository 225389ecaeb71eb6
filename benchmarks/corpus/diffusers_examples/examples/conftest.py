import pytest
from diffusers.utils.testing_utils import require_torch

print(pytest, require_torch)
