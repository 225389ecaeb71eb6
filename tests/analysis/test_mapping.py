"""Tests for envcapture.analysis.mapping: import name (not installed) -> distribution guess."""

from __future__ import annotations

from importlib import resources

import pytest
from packaging.utils import canonicalize_name

from envcapture.analysis.mapping import distribution_candidates, guess_distribution


@pytest.mark.parametrize(
    ("module", "expected"),
    [
        # envcapture's own table (extra_mapping.txt)
        ("sklearn", "scikit-learn"),
        ("sklearn.linear_model", "scikit-learn"),
        ("cv2", "opencv-python"),
        ("PIL", "Pillow"),
        ("PIL.Image", "Pillow"),
        ("yaml", "PyYAML"),
        ("skimage", "scikit-image"),
        ("bs4", "beautifulsoup4"),
        ("attr", "attrs"),
        ("dateutil.parser", "python-dateutil"),
        ("torch", "torch"),
        ("torch.nn.functional", "torch"),
        ("tensorflow", "tensorflow"),
        ("jax", "jax"),
        ("flax.linen", "flax"),
        ("transformers", "transformers"),
        ("lightning", "lightning"),
        ("pytorch_lightning", "pytorch-lightning"),
        ("wandb", "wandb"),
        ("hydra", "hydra-core"),
        ("omegaconf", "omegaconf"),
        ("Crypto.Cipher", "pycryptodome"),
        ("dotenv", "python-dotenv"),
        ("jwt", "PyJWT"),
        ("magic", "python-magic"),
        ("serial", "pyserial"),
        ("git", "GitPython"),
        ("faiss", "faiss-cpu"),
        ("tensorboard", "tensorboard"),
        ("timm", "timm"),
        ("einops", "einops"),
        ("sentencepiece", "sentencepiece"),
        ("MySQLdb", "mysqlclient"),  # pipreqs says MySQL-python (Python 2 only)
        ("psycopg2", "psycopg2-binary"),
        ("psycopg2.extras", "psycopg2-binary"),
        ("OpenGL.GL", "PyOpenGL"),
        ("docx", "python-docx"),
        ("pptx", "python-pptx"),
        ("win32api", "pywin32"),
        ("distutils", "setuptools"),
        # namespace packages: keyed on the 2- or 3-level name
        ("google.protobuf", "protobuf"),
        ("google.protobuf.message", "protobuf"),
        ("google.cloud.storage", "google-cloud-storage"),
        ("google.cloud.storage.blob", "google-cloud-storage"),
        ("azure.storage.blob", "azure-storage-blob"),
        ("mpl_toolkits.mplot3d", "matplotlib"),
        # pipreqs' table where envcapture has nothing to add
        ("googleapiclient.discovery", "google-api-python-client"),
        ("dns.resolver", "dnspython"),
        ("telegram", "python-telegram-bot"),
    ],
)
def test_guess(module: str, expected: str) -> None:
    assert guess_distribution(module) == expected


@pytest.mark.parametrize(
    "module",
    [
        "google",  # pipreqs: protobuf, wrong for every other google.* project
        "google.cloud",
        "google.cloud.unknown_service",
        "google.unknown",
        "azure",  # pipreqs lists eleven projects
        "azure.unknown",
        "mpl_toolkits",
        "src",  # generic local names pipreqs maps to random projects
        "test",
        "models",
        "examples",
        "definitely_not_a_known_module",
        "my_local_package.sub",
        "",
    ],
)
def test_no_guess(module: str) -> None:
    assert guess_distribution(module) is None


def test_candidates() -> None:
    plone = distribution_candidates("plone.app.foo")
    assert len(plone) > 10 and plone[0] == "plone.alterego"  # pipreqs' order: ambiguous
    assert guess_distribution("plone.app.foo") is None
    assert distribution_candidates("google") == ()
    assert distribution_candidates("sklearn") == ("scikit-learn",)
    assert distribution_candidates("unknown_thing") == ()


def test_module_name_is_never_the_guess() -> None:
    """A name in neither table gives None, not the module name itself."""
    assert guess_distribution("requests_toolbelt_unknown") is None


def test_extra_mapping_entries_are_well_formed() -> None:
    text = resources.files("envcapture").joinpath("data", "extra_mapping.txt").read_text()
    seen: set[str] = set()
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        module, _, dist = line.partition(":")
        assert module and dist, raw
        assert all(part.isidentifier() for part in module.split(".")), raw
        assert module not in seen, f"duplicate {module}"
        seen.add(module)
        assert dist == "-" or canonicalize_name(dist), raw


def test_pipreqs_data_and_notice_shipped() -> None:
    data = resources.files("envcapture").joinpath("data")
    mapping = data.joinpath("pipreqs_mapping.txt").read_text()
    assert len(mapping.splitlines()) == 1152  # pipreqs 0.5.0's `mapping`, unmodified
    notice = data.joinpath("NOTICE").read_text()
    assert "pipreqs 0.5.0" in notice and "Apache License" in notice
