import torch
from torch.profiler import profile
import matplotlib.pyplot as plt

print(torch, profile, plt)
