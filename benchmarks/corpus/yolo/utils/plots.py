import contextlib
import math
import os
from copy import copy
from pathlib import Path

import cv2
import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sn
import torch
from PIL import Image, ImageDraw
from scipy.ndimage.filters import gaussian_filter1d
from ultralytics.utils.plotting import Annotator

from utils import TryExcept


def plot_labels(labels, names=(), save_dir=Path("")):
    return sn


print(contextlib, math, os, copy, cv2, matplotlib, plt, np, pd, torch, Image, ImageDraw, gaussian_filter1d, Annotator, TryExcept)
