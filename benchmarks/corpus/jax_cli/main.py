"""Stand-in for an absl/ml_collections JAX training entry point (written for the benchmark)."""

from absl import app, flags, logging
from ml_collections import config_flags

import train

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "Directory to store model data.")
config_flags.DEFINE_config_file("config", None, "File path to the training hyperparameter configuration.")


def main(argv):
    logging.info("JAX devices: %s", train.jax.devices())
    train.train_and_evaluate(FLAGS.config, FLAGS.workdir)


if __name__ == "__main__":
    flags.mark_flags_as_required(["config", "workdir"])
    app.run(main)
