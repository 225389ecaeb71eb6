"""Constants only: `from cfg import BATCH` must still ship this file."""

BATCH = 32
EPOCHS = 5
