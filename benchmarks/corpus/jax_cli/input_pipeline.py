import jax
import tensorflow as tf
import tensorflow_datasets as tfds

print(jax, tf, tfds)
