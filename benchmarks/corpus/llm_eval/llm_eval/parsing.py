import yaml
from bs4 import BeautifulSoup
import jsonschema

try:
    import orjson as fastjson
except ImportError:
    import json as fastjson


def extract_answer(html: str) -> str:
    return BeautifulSoup(html, "html.parser").get_text() + str(yaml) + str(jsonschema) + str(fastjson)
