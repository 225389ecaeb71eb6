"""The import-name table at scale: popular import names -> the distribution a job must declare.

Each pair is checked by hand against the project's own documentation (``pip install X`` to
``import y``). Compared after PEP 503 normalisation: ``PyYAML`` and ``pyyaml`` are one name.
"""

from __future__ import annotations

import pytest
from packaging.utils import canonicalize_name

from envcapture.analysis.mapping import Confidence, guess

POPULAR = """
absl:absl-py accelerate:accelerate aiofiles:aiofiles aiohttp:aiohttp aiosignal:aiosignal albumentations:albumentations
alembic:alembic altair:altair amqp:amqp annotated_types:annotated-types anyio:anyio appdirs:appdirs
argon2:argon2-cffi arrow:arrow asgiref:asgiref asn1crypto:asn1crypto astroid:astroid async_timeout:async-timeout
attr:attrs attrs:attrs av:av azure.core:azure-core azure.identity:azure-identity
azure.storage.blob:azure-storage-blob babel:babel backoff:backoff bcrypt:bcrypt bs4:beautifulsoup4
billiard:billiard black:black bleach:bleach blinker:blinker boto3:boto3 botocore:botocore
cachetools:cachetools celery:celery certifi:certifi cffi:cffi chardet:chardet charset_normalizer:charset-normalizer
click:click cloudpickle:cloudpickle colorama:colorama coloredlogs:coloredlogs constructs:constructs
coverage:coverage cryptography:cryptography cv2:opencv-python cycler:cycler Cython:cython dask:dask
datasets:datasets dateutil:python-dateutil decorator:decorator defusedxml:defusedxml deprecated:deprecated
diffusers:diffusers dill:dill distlib:distlib django:django dns:dnspython docker:docker docopt:docopt
docutils:docutils dotenv:python-dotenv einops:einops elasticsearch:elasticsearch email_validator:email-validator
evaluate:evaluate exceptiongroup:exceptiongroup fastapi:fastapi fastjsonschema:fastjsonschema filelock:filelock
fire:fire flask:flask flatbuffers:flatbuffers fontTools:fonttools frozenlist:frozenlist fsspec:fsspec
ftfy:ftfy gast:gast gcsfs:gcsfs gdown:gdown git:GitPython gitdb:gitdb google.api_core:google-api-core
google.auth:google-auth google.cloud.aiplatform:google-cloud-aiplatform google.cloud.bigquery:google-cloud-bigquery
google.cloud.pubsub:google-cloud-pubsub google.cloud.storage:google-cloud-storage google.protobuf:protobuf
googleapiclient:google-api-python-client gradio:gradio graphviz:graphviz greenlet:greenlet grpc:grpcio
gunicorn:gunicorn gym:gym gymnasium:gymnasium h11:h11 h5py:h5py httpcore:httpcore httplib2:httplib2
httpx:httpx huggingface_hub:huggingface-hub humanfriendly:humanfriendly hydra:hydra-core idna:idna
imageio:imageio importlib_metadata:importlib-metadata iniconfig:iniconfig ipykernel:ipykernel IPython:ipython
isodate:isodate isort:isort itsdangerous:itsdangerous jax:jax jinja2:jinja2 jmespath:jmespath joblib:joblib
jsonpatch:jsonpatch jsonpointer:jsonpointer jsonschema:jsonschema jwt:PyJWT kafka:kafka-python keras:keras
kiwisolver:kiwisolver kombu:kombu kubernetes:kubernetes langchain:langchain lightgbm:lightgbm
lightning:lightning llvmlite:llvmlite loguru:loguru lxml:lxml lz4:lz4 mako:mako markdown:markdown
markdown_it:markdown-it-py markupsafe:markupsafe marshmallow:marshmallow matplotlib:matplotlib mdurl:mdurl
ml_collections:ml-collections ml_dtypes:ml-dtypes mlflow:mlflow more_itertools:more-itertools mpmath:mpmath
msal:msal msgpack:msgpack multidict:multidict mypy:mypy mypy_extensions:mypy-extensions nest_asyncio:nest-asyncio
networkx:networkx nltk:nltk nodeenv:nodeenv numba:numba numpy:numpy oauthlib:oauthlib omegaconf:omegaconf
onnx:onnx onnxruntime:onnxruntime openai:openai openpyxl:openpyxl opentelemetry.sdk:opentelemetry-sdk
opt_einsum:opt-einsum optax:optax optuna:optuna orjson:orjson packaging:packaging pandas:pandas
paramiko:paramiko parso:parso pathspec:pathspec peft:peft pexpect:pexpect PIL:pillow pkg_resources:setuptools
platformdirs:platformdirs plotly:plotly pluggy:pluggy polars:polars portalocker:portalocker
prometheus_client:prometheus-client prompt_toolkit:prompt-toolkit proto:proto-plus psutil:psutil
psycopg2:psycopg2-binary ptyprocess:ptyprocess pyarrow:pyarrow pyasn1:pyasn1 pycocotools:pycocotools
pycparser:pycparser pydantic:pydantic pydantic_core:pydantic-core pygments:pygments pylint:pylint
pymongo:pymongo pymysql:pymysql pyparsing:pyparsing pytest:pytest pytz:pytz rapidfuzz:rapidfuzz
redis:redis regex:regex requests:requests requests_oauthlib:requests-oauthlib rich:rich rouge_score:rouge-score
rsa:rsa ruamel.yaml:ruamel.yaml s3fs:s3fs s3transfer:s3transfer safetensors:safetensors scipy:scipy
seaborn:seaborn sentencepiece:sentencepiece sentry_sdk:sentry-sdk setuptools:setuptools shapely:shapely
simplejson:simplejson six:six skimage:scikit-image sklearn:scikit-learn slack_sdk:slack-sdk smart_open:smart-open
smmap:smmap sniffio:sniffio snowflake.connector:snowflake-connector-python sortedcontainers:sortedcontainers
soundfile:soundfile soupsieve:soupsieve sqlalchemy:sqlalchemy sqlparse:sqlparse starlette:starlette
streamlit:streamlit sympy:sympy tabulate:tabulate tenacity:tenacity tensorboard:tensorboard
tensorboardX:tensorboardx termcolor:termcolor threadpoolctl:threadpoolctl tiktoken:tiktoken timm:timm
tokenizers:tokenizers toml:toml tomli:tomli tomlkit:tomlkit toolz:toolz torch:torch torchmetrics:torchmetrics
torchvision:torchvision tornado:tornado tqdm:tqdm traitlets:traitlets transformers:transformers typer:typer
typing_extensions:typing-extensions tzdata:tzdata tzlocal:tzlocal ujson:ujson uritemplate:uritemplate
urllib3:urllib3 uvicorn:uvicorn virtualenv:virtualenv wandb:wandb wcwidth:wcwidth websocket:websocket-client
websockets:websockets werkzeug:werkzeug wrapt:wrapt xgboost:xgboost xxhash:xxhash yaml:PyYAML yarl:yarl
zipp:zipp zmq:pyzmq zope.interface:zope.interface OpenGL:PyOpenGL Crypto:pycryptodome serial:pyserial
magic:python-magic docx:python-docx pptx:python-pptx multipart:python-multipart jose:python-jose
""".split()  # noqa: SIM905 - a readable block of pairs


def _pairs() -> list[tuple[str, str]]:
    return [tuple(p.split(":", 1)) for p in POPULAR]  # type: ignore[misc]


def test_the_sample_is_large() -> None:
    assert len(set(_pairs())) >= 200


@pytest.mark.parametrize(("module", "expected"), _pairs())
def test_popular_import_names(module: str, expected: str) -> None:
    found = guess(module)
    assert found is not None, module
    assert canonicalize_name(found.distribution) == canonicalize_name(expected), (module, found)
    # A name only the same-name rule answers is low confidence; the sample is all tables.
    if canonicalize_name(module.split(".")[0]) != canonicalize_name(expected):
        assert found.confidence is not Confidence.LOW, (module, found)
