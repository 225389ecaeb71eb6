"""Stand-in for a Vertex AI / BigQuery batch job (written for the benchmark)."""

import argparse
import logging

import google.auth
from google.cloud import bigquery, storage
from google.cloud import aiplatform

from pipeline.features import build_features
from pipeline.io import upload_model


def main():
    credentials, project = google.auth.default()
    client = bigquery.Client(project=project, credentials=credentials)
    aiplatform.init(project=project)
    df = client.query("select 1").to_dataframe()
    upload_model(storage.Client(), build_features(df))
    logging.info("done %s", argparse)


if __name__ == "__main__":
    main()
