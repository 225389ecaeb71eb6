import io
import joblib
from google.cloud.storage import Blob
from google.api_core import retry


@retry.Retry()
def upload_model(client, model):
    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    return Blob
