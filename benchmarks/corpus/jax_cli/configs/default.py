import ml_collections


def get_config():
    return ml_collections.ConfigDict()
