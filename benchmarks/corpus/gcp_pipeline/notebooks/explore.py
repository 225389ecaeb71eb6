import seaborn
from google.colab import auth
from google.cloud import bigquery_storage

print(seaborn, auth, bigquery_storage)
