import json
import os
import re
import sys
import zlib
from typing import Callable, List, Optional, TextIO


def format_timestamp(seconds: float) -> str:
    return f"{seconds:.3f}"


def get_writer(output_format: str, output_dir: str) -> Callable:
    return lambda *a: (json, os, re, sys, zlib, List, Optional, TextIO)
