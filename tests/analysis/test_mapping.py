"""Tests for envcapture.analysis.mapping: import name (not installed) -> distribution guess."""

from __future__ import annotations

import hashlib
from importlib import resources

import pytest
from packaging.utils import canonicalize_name

from envcapture.analysis.mapping import (
    distribution_candidates,
    guess_distribution,
    implied_imports,
    submodules_importing,
    tables_digest,
)


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


# --- guesses with their source and confidence ----------------------------------------------------

from envcapture.analysis.mapping import (  # noqa: E402
    SOURCE_SAME_NAME,
    Confidence,
    guess,
    import_names_of,
    namespace_portion,
    same_name,
)


def test_guess_from_a_table_is_high_confidence() -> None:
    found = guess("yaml")
    assert found is not None and found.distribution == "PyYAML" and found.confidence is Confidence.HIGH
    assert found.source != SOURCE_SAME_NAME


def test_stale_pipreqs_entries_are_overridden_by_wheel_metadata() -> None:
    found = guess("msgpack")
    assert found is not None and found.distribution == "msgpack"  # pipreqs says msgpack_python
    assert guess_distribution("slack") is None or canonicalize_name(guess_distribution("slack") or "") != "slackclient"


@pytest.mark.parametrize(
    ("module", "expected"),
    [
        ("some_unknown_lib", "some-unknown-lib"),
        ("Some_Unknown.sub.mod", "some-unknown"),
        ("google.cloud.newservice", "google-cloud-newservice"),  # below a shared namespace: the portion
        ("google.cloud.newservice.v1.client", "google-cloud-newservice"),
    ],
)
def test_same_name_fallback(module: str, expected: str) -> None:
    found = guess(module)
    assert found is not None
    assert (found.distribution, found.source, found.confidence) == (expected, SOURCE_SAME_NAME, Confidence.LOW)
    assert guess_distribution(module) is None  # tables only: no same-name guess there


@pytest.mark.parametrize("module", ["google", "google.cloud", "azure", "_private", "a-b", ""])
def test_no_same_name_for_namespaces_and_bad_names(module: str) -> None:
    assert same_name(module) is None
    assert guess(module) is None


def test_namespace_portions() -> None:
    assert namespace_portion("google.cloud.bigquery.client") == ("google.cloud.bigquery",)
    assert namespace_portion("google.cloud", ("storage", "aiplatform")) == ("google.cloud.storage", "google.cloud.aiplatform")
    assert namespace_portion("google.protobuf.message") == ("google.protobuf",)
    assert namespace_portion("numpy.linalg") == ()
    assert namespace_portion("google") == ()
    # a portion never names a sibling: bigquery is not storage's, nor core's
    found = guess("google.cloud.bigquery.job")
    assert found is not None and found.distribution == "google-cloud-bigquery"


def test_import_names_of_a_declared_distribution() -> None:
    assert "yaml" in import_names_of("PyYAML")
    assert "yaml" in import_names_of("pyyaml")
    assert "cv2" in import_names_of("opencv-python-headless")  # not the most downloaded provider of cv2
    assert "dotenv" in import_names_of("python-dotenv")
    assert "sklearn" in import_names_of("scikit-learn")
    assert "google.cloud.bigquery" in import_names_of("google-cloud-bigquery")
    assert "some_lib" in import_names_of("some-lib")


def test_wheel_table_is_well_formed_and_documented() -> None:
    data = resources.files("envcapture").joinpath("data")
    text = data.joinpath("wheel_mapping.txt").read_text()
    entries = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert len(entries) > 1000
    for line in entries:
        module, _, dist = line.partition(":")
        assert all(part.isidentifier() for part in module.split(".")), line
        assert dist == "-" or canonicalize_name(dist), line
    notice = data.joinpath("NOTICE").read_text()
    assert "wheel_mapping.txt" in notice and "gen_mapping.py" in notice


@pytest.mark.parametrize(
    ("module", "names", "expected"),
    [
        ("torch.utils.tensorboard", ("SummaryWriter",), (("torch.utils.tensorboard", "tensorboard"),)),
        ("torch.utils.tensorboard.writer", (), (("torch.utils.tensorboard", "tensorboard"),)),
        ("torch.utils", ("tensorboard", "data"), (("torch.utils.tensorboard", "tensorboard"),)),
        ("jax.experimental", ("jax2tf",), (("jax.experimental.jax2tf", "tensorflow"),)),
        ("dask", ("dataframe", "array"), (("dask.dataframe", "pandas"), ("dask.array", "numpy"))),
        ("dask.distributed", ("Client",), (("dask.distributed", "distributed"),)),
        ("torch", (), ()),
        ("torch.utils.data", ("DataLoader",), ()),
        ("dask", ("delayed",), ()),
        ("pandas.io.parquet", (), ()),  # pyarrow/fastparquet are asked for when read_parquet runs
    ],
)
def test_implied_imports(module: str, names: tuple[str, ...], expected: tuple[tuple[str, str], ...]) -> None:
    assert implied_imports(module, names) == expected
    for submodule, imported in expected:
        assert submodule in submodules_importing(imported)


def test_submodules_importing() -> None:
    assert submodules_importing("tensorboard") == ("torch.utils.tensorboard",)
    assert submodules_importing("pandas") == ("dask.dataframe",)
    assert submodules_importing("torch") == ()


def test_implied_imports_table_is_well_formed_and_in_the_cache_key() -> None:
    text = resources.files("envcapture").joinpath("data", "implied_imports.txt").read_text()
    entries = [line.split("#", 1)[0].strip() for line in text.splitlines()]
    entries = [e for e in entries if e]
    assert len(entries) == len(set(entries)) >= 5
    for entry in entries:
        module, _, imported = entry.partition(":")
        assert module.count(".") >= 1, entry  # a submodule: the top-level name is the distribution's own
        assert all(p.isidentifier() for p in (*module.split("."), *imported.split("."))), entry
        assert module.split(".")[0] != imported.split(".")[0], entry  # another distribution's module
    # the analysis cache's key (api.py) holds tables_digest: a change of this table changes it too
    digest = hashlib.sha256()
    for name in ("extra_mapping.txt", "wheel_mapping.txt", "pipreqs_mapping.txt", "implied_imports.txt"):
        digest.update(resources.files("envcapture").joinpath("data", name).read_bytes())
    assert tables_digest() == digest.hexdigest()
