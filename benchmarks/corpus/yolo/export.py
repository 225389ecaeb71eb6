import argparse

import torch

from utils.general import check_requirements


def export_onnx(model, im, file):
    check_requirements("onnx>=1.12.0")
    import onnx

    return onnx


def export_engine(model, im, file):
    import tensorrt as trt

    return trt


def export_coreml(model, im, file):
    import coremltools as ct

    return ct


if __name__ == "__main__":
    print(argparse, torch)
