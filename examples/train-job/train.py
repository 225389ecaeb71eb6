"""A tiny training script; run as `python train.py --params misc/params.json`."""

import argparse
import importlib
import json
import sys

from cfg import BATCH
from models import LinearModel

try:
    import torch  # optional accelerator
except ImportError:
    torch = None

if sys.platform == "win32":
    pass  # inactive on the Linux target


def load_plugin():
    return importlib.import_module("yaml")  # a literal dynamic import


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--params", required=True)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--model", default="model.bin")
    args = parser.parse_args()
    with open(args.params) as fh:
        params = json.load(fh)
    model = LinearModel(params["lr"])
    print(f"training {args.epochs} epochs, batch {BATCH}, torch={'yes' if torch else 'no'}")
    model.save(args.model)


if __name__ == "__main__":
    main()
