import torch
from lightning import LightningModule
from torchmetrics import MaxMetric, MeanMetric
from torchmetrics.classification.accuracy import Accuracy

print(torch, LightningModule, MaxMetric, MeanMetric, Accuracy)
