import imageio
import moviepy
import pygame
from huggingface_sb3 import load_from_hub

print(imageio, moviepy, pygame, load_from_hub)
