import contextlib
import glob
import inspect
import logging
import math
import os
import platform
import random
import re
import signal
import subprocess
import sys
import time
import urllib
from pathlib import Path
from subprocess import check_output
from zipfile import ZipFile

import cv2
import numpy as np
import pandas as pd
import pkg_resources as pkg
import torch
import torchvision
import yaml

from utils import TryExcept, emojis

LOGGER = logging.getLogger("yolov5")


def check_requirements(requirements, exclude=(), install=True):
    return pkg.parse_requirements(str(requirements))


def colorstr(*input):
    return "".join(input)


def increment_path(path):
    return Path(path)


def check_version(current="0.0.0", minimum="0.0.0"):
    return True


def check_suffix(file="yolov5s.pt", suffix=(".pt",)):
    return True


def check_img_size(imgsz):
    return imgsz


print(contextlib, glob, inspect, math, os, platform, random, re, signal, subprocess, sys, time, urllib)
print(check_output, ZipFile, cv2, np, pd, torch, torchvision, yaml)
