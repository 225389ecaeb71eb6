import re
import string

import numpy as np
import regex
from dateutil import parser as date_parser
from rapidfuzz import fuzz


def score_answer(pred: str, gold: str) -> float:
    return float(np.mean([fuzz.ratio(pred, gold)])) + len(regex.findall(r"\p{L}", pred)) + bool(date_parser)


print(re, string)
