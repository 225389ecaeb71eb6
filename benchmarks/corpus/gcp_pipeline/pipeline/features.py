import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from sklearn.preprocessing import StandardScaler


def build_features(df: pd.DataFrame) -> np.ndarray:
    return StandardScaler().fit_transform(df.values) if pq else None
