import torch
import albumentations
import segmentation_models_pytorch

print(torch, albumentations, segmentation_models_pytorch)
