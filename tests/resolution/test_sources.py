"""Issue 13 item 6: where packages come from, as pip knows it: pip's configuration read from pip
itself, under config.yaml's options, and the configured source a link pip found belongs to.

The tests set their pip configuration in their environment (``PIP_CONFIG_FILE`` naming a
file of their own, ``XDG_CONFIG_DIRS`` an empty directory so the machine's
``/etc/xdg/pip/pip.conf`` stays out); the session default is ``PIP_CONFIG_FILE=/dev/null``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from helpers import make_venv

from envcapture.environment.pipconfig import PipConfig, PipSetting, parse_config_list, read_pip_config
from envcapture.errors import InputError
from envcapture.resolution.model import PackageSource, ResolveOptions, SourceKind
from envcapture.resolution.sources import source_of_link, with_pip_config


def use_pip_conf(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, text: str) -> Path:
    """Make ``text`` the pip configuration of this test (and of the processes it starts)."""
    conf = tmp_path / "test-pip.conf"
    conf.write_text(text, "utf-8")
    empty = tmp_path / "no-global-pip-conf"
    empty.mkdir(exist_ok=True)
    monkeypatch.setenv("PIP_CONFIG_FILE", str(conf))
    monkeypatch.setenv("XDG_CONFIG_DIRS", str(empty))
    return conf


# --- pip config list, merged as pip merges it ------------------------------------------------------


def test_config_list_sections_merge_as_for_pip_install() -> None:
    config = parse_config_list(
        "global.index-url='https://a.example/simple'\n"
        "install.index-url='https://b.example/simple'\n"
        "download.index-url='https://not-for-install.example/simple'\n"
        "global.find-links='/old'\n"
        ":env:.find-links='/w1  /w2'\n"
        "global.extra-index-url=''\n"
        "global.constraint='/etc/constraints.txt'\n"
        "global.cert='/ca.pem'\n"
        ":env:.config-file='/x/pip.conf'\n"
        "not a setting\n"
    )
    assert config.settings == (
        PipSetting(key="cert", values=("/ca.pem",), origin="pip.conf [global]"),
        PipSetting(key="find-links", values=("/w1", "/w2"), origin="PIP_FIND_LINKS"),
        PipSetting(key="index-url", values=("https://b.example/simple",), origin="pip.conf [install]"),
    )
    assert config.index_url == "https://b.example/simple" and config.extra_index_urls == ()
    assert config.transport == (("cert", "/ca.pem"),) and not config.no_index


@pytest.mark.slow
def test_pip_itself_reports_files_and_variables(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    use_pip_conf(
        monkeypatch,
        tmp_path,
        "[global]\nindex-url = https://user:tok@a.example/simple\nextra-index-url =\n  https://x.example/simple\n"
        "  https://y.example/simple\n[install]\ntrusted-host = a.example\nno-index = false\n",
    )
    monkeypatch.setenv("PIP_FIND_LINKS", "/wheels /more-wheels")
    config = read_pip_config(sys.executable)
    assert config.index_url == "https://user:tok@a.example/simple"
    assert config.extra_index_urls == ("https://x.example/simple", "https://y.example/simple")
    assert config.find_links == ("/wheels", "/more-wheels")
    assert config.trusted_hosts == ("a.example",) and not config.no_index
    assert [s.origin for s in config.settings if s.key in ("find-links", "trusted-host")] == [
        "PIP_FIND_LINKS",
        "pip.conf [install]",
    ]


@pytest.mark.slow
def test_the_environments_own_pip_conf_counts_even_without_pip_in_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    use_pip_conf(monkeypatch, tmp_path, "")  # a file: pip then reads the environment's pip.conf too
    python = make_venv(tmp_path / "venv", seed=False)  # no pip inside: envcapture's pip asks for it
    (tmp_path / "venv" / "pip.conf").write_text("[global]\nfind-links = /site-wheels\n", "utf-8")
    assert read_pip_config(str(python)).get("find-links") == PipSetting(
        key="find-links", values=("/site-wheels",), origin="pip.conf [global]"
    )
    assert read_pip_config(sys.executable).find_links == ()  # another environment, another file


@pytest.mark.slow
def test_a_pip_conf_pip_cannot_read_is_bad_input(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    conf = use_pip_conf(monkeypatch, tmp_path, "[global\nindex-url = https://a.example/simple\n")
    with pytest.raises(InputError) as err:
        read_pip_config(sys.executable)
    text = str(err.value)
    assert text.startswith(f"{sys.executable}: pip cannot read its configuration: ") and f"file: '{conf}', line: 1" in text
    assert "\n" not in text and err.value.exit_code == 2


# --- config.yaml over pip ---------------------------------------------------------------------------


PIP = PipConfig(
    settings=(
        PipSetting(key="cert", values=("/ca.pem",), origin="pip.conf [global]"),
        PipSetting(key="extra-index-url", values=("https://extra.example/simple",), origin="pip.conf [global]"),
        PipSetting(key="find-links", values=("/opt/wheels",), origin="PIP_FIND_LINKS"),
        PipSetting(key="index-url", values=("https://u:secret@mirror.example/simple",), origin="pip.conf [global]"),
        PipSetting(key="no-index", values=("true",), origin="PIP_NO_INDEX"),
    )
)


def test_pip_configuration_fills_what_config_yaml_leaves_out() -> None:
    options, decisions = with_pip_config(ResolveOptions(), PipConfig(settings=PIP.settings[:4]))
    assert options == ResolveOptions(
        index_url="https://u:secret@mirror.example/simple",
        extra_index_urls=("https://extra.example/simple",),
        find_links=("/opt/wheels",),
        transport=(("cert", "/ca.pem"),),
    )
    assert [(d.action, d.reason) for d in decisions] == [
        ("pip-config", "--extra-index-url https://extra.example/simple from pip.conf [global]: env.python.pip does not set it"),
        ("pip-config", "--find-links /opt/wheels from PIP_FIND_LINKS: env.python.pip does not set it"),
        ("pip-config", "--index-url https://***@mirror.example/simple from pip.conf [global]: env.python.pip does not set it"),
    ]
    assert "secret" not in repr(decisions)


def test_config_yaml_wins_key_by_key() -> None:
    job = ResolveOptions(index_url="https://job.example/simple", trusted_hosts=("job.example",))
    options, decisions = with_pip_config(job, PIP)
    assert (options.index_url, options.extra_index_urls, options.find_links, options.no_index) == (
        "https://job.example/simple",
        ("https://extra.example/simple",),  # a key the job does not set stays pip's
        ("/opt/wheels",),
        False,  # pip's no-index never silences the job's own index
    )
    assert options.trusted_hosts == ("job.example",)
    unused = {d.reason for d in decisions if d.action == "pip-config-overridden"}
    assert unused == {
        "--index-url https://***@mirror.example/simple from pip.conf [global] is not used: env.python.pip.index-url comes first",
        "--no-index true from PIP_NO_INDEX is not used: the job names its indexes",
    }
    # Without an index of the job's, pip's no-index holds: its indexes are not searched, its find-links are.
    alone, _ = with_pip_config(ResolveOptions(), PIP)
    assert (alone.no_index, alone.index_url, alone.extra_index_urls, alone.find_links) == (True, None, (), ("/opt/wheels",))


def test_nothing_configured_changes_nothing() -> None:
    job = ResolveOptions(index_url="https://job.example/simple")
    assert with_pip_config(job, PipConfig()) == (job, ())


# --- which source a link belongs to ----------------------------------------------------------------


def test_a_found_link_is_traced_to_its_configured_source() -> None:
    options = ResolveOptions(
        index_url="https://user:tok@idx.example/simple",
        extra_index_urls=("file:///opt/pypi/simple",),
        find_links=("/opt/wheels", "https://links.example/wheels/"),
    )

    def source(url: str, page: str | None) -> PackageSource | None:
        return source_of_link(url, page, options)

    index = PackageSource(kind=SourceKind.INDEX, location="https://***@idx.example/simple")
    assert source("https://files.example/p/x-1-py3-none-any.whl", "https://user:****@idx.example/simple/x/") == index
    assert source("file:///opt/pypi/files/x-1-py3-none-any.whl", "file:///opt/pypi/simple/x/") == PackageSource(
        kind=SourceKind.INDEX, location="file:///opt/pypi/simple"
    )
    assert source("file:///opt/wheels/torch-2.13.0%2Bcpu-cp311-cp311-linux_x86_64.whl", None) == PackageSource(
        kind=SourceKind.FIND_LINKS, location="/opt/wheels"
    )
    assert source("https://links.example/wheels/x-1-py3-none-any.whl", "https://links.example/wheels/") == PackageSource(
        kind=SourceKind.FIND_LINKS, location="https://links.example/wheels/"
    )
    assert source("https://elsewhere.example/x.whl", "https://elsewhere.example/simple/x/") is None
    assert source("file:///tmp/other/x-1-py3-none-any.whl", None) is None
    assert str(PackageSource(kind=SourceKind.FIND_LINKS, location="/opt/wheels")) == "/opt/wheels (find-links)"
    # No index configured: pip's default.
    assert source_of_link("https://files.pythonhosted.org/x.whl", "https://pypi.org/simple/x/", ResolveOptions()) == (
        PackageSource(kind=SourceKind.INDEX, location="https://pypi.org/simple")
    )
