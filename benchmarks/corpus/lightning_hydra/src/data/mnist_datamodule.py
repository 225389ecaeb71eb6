from lightning import LightningDataModule
from torchvision.datasets import MNIST
from torchvision.transforms import transforms

print(LightningDataModule, MNIST, transforms)
