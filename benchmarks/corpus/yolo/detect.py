import argparse
import os
import platform
import sys
from pathlib import Path

import torch

from models.common import DetectMultiBackend
from utils.general import LOGGER, check_img_size
from utils.plots import Annotator

if __name__ == "__main__":
    print(argparse, os, platform, sys, Path, torch, DetectMultiBackend, LOGGER, check_img_size, Annotator)
