import math
import warnings
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch


def ap_per_class(tp, conf):
    return np.zeros(1)


print(math, warnings, Path, plt, torch)
