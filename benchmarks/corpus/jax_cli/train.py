import functools

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import tensorflow as tf
import tensorflow_datasets as tfds
from clu import metric_writers, periodic_actions
from flax import linen as nn
from flax.training import checkpoints, train_state

import input_pipeline
import models


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str):
    tf.config.experimental.set_visible_devices([], "GPU")
    return (
        functools.partial(jnp.add, np.ones(1)),
        optax,
        tfds,
        metric_writers,
        periodic_actions,
        nn,
        checkpoints,
        train_state,
        input_pipeline,
        models,
    )
