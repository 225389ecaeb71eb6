import numpy as np
import torch.nn as nn
from torch.distributions.categorical import Categorical


class Agent(nn.Module):
    def get_action(self, x):
        return Categorical(logits=x), np.sqrt(2)
