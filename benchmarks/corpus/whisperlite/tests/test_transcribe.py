import os

import pytest
import scipy

import whisperlite

print(os, pytest, scipy, whisperlite)
