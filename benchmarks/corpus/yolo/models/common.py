import ast
import contextlib
import json
import math
import platform
import warnings
import zipfile
from collections import OrderedDict, namedtuple
from copy import copy
from pathlib import Path
from urllib.parse import urlparse

import cv2
import numpy as np
import pandas as pd
import requests
import torch
import torch.nn as nn
from PIL import Image
from torch.cuda import amp

from utils.general import LOGGER, check_requirements, check_suffix, check_version

try:
    import ultralytics

    assert hasattr(ultralytics, "__version__")
except (ImportError, AssertionError):
    import os

    os.system("pip install -U ultralytics")
    import ultralytics

from ultralytics.utils.plotting import Annotator, colors


class Conv(nn.Module):
    pass


class C3(nn.Module):
    pass


class DetectMultiBackend(nn.Module):
    def __init__(self, weights="yolov5s.pt", device=None, dnn=False):
        super().__init__()
        w = str(weights)
        if w.endswith(".onnx") and dnn:
            check_requirements("opencv-python>=4.5.4")
            net = cv2.dnn.readNetFromONNX(w)
        elif w.endswith(".onnx"):
            check_requirements(("onnx", "onnxruntime"))
            import onnxruntime

            session = onnxruntime.InferenceSession(w)
        elif w.endswith(".xml"):
            check_requirements("openvino>=2023.0")
            from openvino.runtime import Core

            core = Core()
        elif w.endswith(".engine"):
            import tensorrt as trt

            print(trt)
        elif w.endswith(".tflite"):
            try:
                from tflite_runtime.interpreter import Interpreter, load_delegate
            except ImportError:
                import tensorflow as tf

                Interpreter, load_delegate = tf.lite.Interpreter, tf.lite.experimental.load_delegate


print(ast, contextlib, json, math, platform, warnings, zipfile, OrderedDict, namedtuple, copy, Path, urlparse)
print(np, pd, requests, torch, Image, amp, LOGGER, check_suffix, check_version, Annotator, colors)
