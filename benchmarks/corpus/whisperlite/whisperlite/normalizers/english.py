import json
import os
import re
from fractions import Fraction
from typing import Iterator, List, Match, Optional, Union

from more_itertools import windowed

from .basic import BasicTextNormalizer


class EnglishTextNormalizer(BasicTextNormalizer):
    pass


print(json, os, re, Fraction, Iterator, List, Match, Optional, Union, windowed)
