import json
import os
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from models.common import DetectMultiBackend
from utils.general import LOGGER, check_requirements
from utils.metrics import ap_per_class


def run(save_json=False):
    if save_json:
        check_requirements("pycocotools>=2.0.6")
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval

        print(COCO, COCOeval)
    print(json, os, Path, np, torch, tqdm, DetectMultiBackend, LOGGER, ap_per_class)
