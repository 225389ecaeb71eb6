import platform
import sys

import pkg_resources
from setuptools import find_packages, setup

print(platform, sys, pkg_resources, find_packages, setup)
