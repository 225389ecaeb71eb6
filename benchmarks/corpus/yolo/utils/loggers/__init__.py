import os
import warnings
from pathlib import Path

import pkg_resources as pkg
import torch

from utils.general import LOGGER, colorstr

try:
    from torch.utils.tensorboard import SummaryWriter
except ImportError:
    SummaryWriter = lambda *args: None

try:
    import wandb

    assert hasattr(wandb, "__version__")
except (ImportError, AssertionError):
    wandb = None

try:
    import clearml
except (ImportError, AssertionError):
    clearml = None


class Loggers:
    pass


print(os, warnings, Path, pkg, torch, LOGGER, colorstr)
