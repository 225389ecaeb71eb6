import os

import requests
import tiktoken
import numpy as np
from datasets import load_dataset
from tqdm import tqdm

print(os, requests, tiktoken, np, load_dataset, tqdm)
