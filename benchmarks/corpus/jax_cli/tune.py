import fire
import jax

import train


def sweep(lr: float = 1e-3):
    return train, jax, lr


if __name__ == "__main__":
    fire.Fire(sweep)
