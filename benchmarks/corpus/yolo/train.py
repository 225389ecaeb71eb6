"""Stand-in for a yolov5-style repository (written for the benchmark)."""

import argparse
import math
import os
import random
import sys
from copy import deepcopy
from datetime import datetime
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn as nn
import yaml
from torch.optim import lr_scheduler
from tqdm import tqdm

FILE = Path(__file__).resolve()
ROOT = FILE.parents[0]
if str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))

import val as validate
from models.yolo import Model
from utils.general import LOGGER, check_requirements, colorstr, increment_path
from utils.loggers import Loggers
from utils.plots import plot_labels

try:
    import comet_ml  # must be imported before torch (if installed)
except ImportError:
    comet_ml = None


def main(opt):
    check_requirements(ROOT / "requirements.txt")
    print(math, os, random, deepcopy, datetime, np, dist, nn, yaml, lr_scheduler, tqdm, validate, Model)
    print(LOGGER, colorstr, increment_path, Loggers, plot_labels)


if __name__ == "__main__":
    main(argparse.ArgumentParser().parse_args())
