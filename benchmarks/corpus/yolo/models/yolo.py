import contextlib
import math
import platform
import sys
from copy import deepcopy
from pathlib import Path

import torch
import torch.nn as nn

from models.common import C3, Conv, DetectMultiBackend
from utils.general import LOGGER, check_version

try:
    import thop  # for FLOPs computation
except ImportError:
    thop = None


class Model(nn.Module):
    pass


print(contextlib, math, platform, sys, deepcopy, Path, torch, C3, Conv, DetectMultiBackend, LOGGER, check_version)
