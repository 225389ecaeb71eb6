import base64
import os
import string
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import Dict, List, Optional, Tuple

import tiktoken


@dataclass
class Tokenizer:
    encoding: tiktoken.Encoding
    num_languages: int = 99
    special_tokens: Dict[str, int] = field(default_factory=dict)


@lru_cache(maxsize=None)
def get_tokenizer(multilingual: bool) -> Optional[Tokenizer]:
    return None


print(base64, os, string, cached_property, List, Tuple)
