import re
import unicodedata

import regex


class BasicTextNormalizer:
    def __call__(self, s: str) -> str:
        return regex.sub(r"\p{M}", "", unicodedata.normalize("NFKC", re.sub(r"\s+", " ", s)))
