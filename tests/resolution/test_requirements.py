"""envcapture.resolution.requirements: pip's requirements-file syntax, each item with its file:line."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from envcapture.errors import EnvcaptureError, Location, RequirementsError
from envcapture.resolution.requirements import (
    ParsedRequirements,
    expand_env_vars,
    parse_requirements_file,
    parse_requirements_text,
)


def parse(text: str, files: dict[str, str] | None = None, environ: dict[str, str] | None = None) -> ParsedRequirements:
    def read(path: str) -> str:
        if files is None or path not in files:
            raise FileNotFoundError(path)
        return files[path]

    return parse_requirements_text(text, file="requirements.txt", read=read, environ=environ)


def only(text: str, **kwargs: object):
    parsed = parse(text, **kwargs)  # type: ignore[arg-type]
    assert len(parsed.requirements) == 1, parsed.requirements
    return parsed.requirements[0]


# --- requirement lines ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "name", "extras", "specifier", "markers"),
    [
        ("numpy", "numpy", set(), "", None),
        ("NumPy==1.26.4", "numpy", set(), "==1.26.4", None),
        ("scikit_learn >= 1.0, < 2", "scikit-learn", set(), "<2,>=1.0", None),
        ("requests[socks, Security]~=2.31", "requests", {"socks", "security"}, "~=2.31", None),
        ('colorama; sys_platform == "win32"', "colorama", set(), "", 'sys_platform == "win32"'),
        ("exceptiongroup ; python_version<'3.11'", "exceptiongroup", set(), "", 'python_version < "3.11"'),
        ("torch===2.1.0+cu121", "torch", set(), "===2.1.0+cu121", None),
    ],
)
def test_pep508_lines(line: str, name: str, extras: set[str], specifier: str, markers: str | None) -> None:
    req = only(line + "\n")
    assert (req.name, set(req.extras), req.specifier, req.markers) == (name, extras, specifier, markers)
    assert req.location == Location(file="requirements.txt", line=1)
    assert not req.editable and req.url is None and req.path is None


def test_comments_blank_lines_and_line_numbers() -> None:
    text = "# header\n\nattrs  # why we need it\n   \n# end\nidna#not-a-comment-without-space\n"
    with pytest.raises(RequirementsError):
        parse(text)  # 'idna#not...' is one token, like pip: not a valid name
    parsed = parse("# header\n\nattrs  # why we need it\n   \n# end\nidna\n")
    assert [(r.name, r.location.line) for r in parsed.requirements] == [("attrs", 3), ("idna", 6)]


def test_line_continuations_take_the_first_line_number() -> None:
    text = "a==1\nrequests==2.31.0 \\\n    --hash=sha256:AAAA \\\n    --hash=sha256:bbbb\nb\n"
    parsed = parse(text)
    assert [(r.name, r.location.line) for r in parsed.requirements] == [("a", 1), ("requests", 2), ("b", 5)]
    assert parsed.requirements[1].hashes == ("sha256:aaaa", "sha256:bbbb")


def test_a_backslash_after_a_comment_does_not_continue() -> None:
    parsed = parse("# note \\\nattrs\n")
    assert [r.name for r in parsed.requirements] == ["attrs"]


def test_urls_direct_references_and_paths() -> None:
    text = (
        "pkg @ git+https://github.com/org/pkg.git@v1.2\n"
        "https://example.com/dl/bar-2.0.tar.gz#egg=bar ; sys_platform == 'linux'\n"
        "./dist/foo_lib-1.0-py3-none-any.whl\n"
        "../libs/thing[cli]\n"
        "git+https://github.com/org/unnamed.git\n"
    )
    pkg, bar, foo, thing, unnamed = parse(text).requirements
    assert (pkg.name, pkg.url) == ("pkg", "git+https://github.com/org/pkg.git@v1.2")
    assert (bar.name, bar.url, bar.markers) == ("bar", "https://example.com/dl/bar-2.0.tar.gz#egg=bar", 'sys_platform == "linux"')
    assert (foo.name, foo.specifier, foo.path) == ("foo-lib", "==1.0", "./dist/foo_lib-1.0-py3-none-any.whl")
    assert (thing.name, thing.path, set(thing.extras)) == (None, "../libs/thing", {"cli"})
    assert (unnamed.name, unnamed.url) == (None, "git+https://github.com/org/unnamed.git")


def test_editables_path_and_vcs() -> None:
    text = "-e ./libs/mylib[dev]\n--editable=git+https://github.com/x/y.git@v1#egg=Y_pkg&subdirectory=sub\n"
    local, vcs = parse(text).requirements
    assert local.editable and local.path == "./libs/mylib" and set(local.extras) == {"dev"} and local.name is None
    assert vcs.editable and vcs.name == "y-pkg" and vcs.url.startswith("git+https://github.com/x/y.git@v1")
    assert local.text == "-e ./libs/mylib[dev]"


def test_per_requirement_options() -> None:
    req = only("pkg==1.0 --hash=sha512:ABCD --config-settings=--build-option=--x --global-option=-q\n")
    assert req.hashes == ("sha512:abcd",)
    assert req.config_settings == ("--build-option=--x",)
    assert req.global_options == ("-q",)


# --- options --------------------------------------------------------------------------------------


def test_finder_options_with_locations() -> None:
    text = (
        "-i https://first.example/simple\n"
        "--index-url=https://second.example/simple\n"
        "--extra-index-url https://extra.example/simple\n"
        "--extra https://abbrev.example/simple\n"  # optparse: unambiguous prefix
        "--trusted-host extra.example --trusted-host abbrev.example\n"
        "-f https://wheels.example/links\n"
        "--find-links ./wheels\n"
        "--pre\n--prefer-binary\n--require-hashes\n--only-binary :all:\n"
        "attrs\n"
    )
    parsed = parse(text)
    assert parsed.index_url == "https://second.example/simple"  # the last one wins, as in pip
    assert parsed.option("index-url").location == Location(file="requirements.txt", line=2)  # type: ignore[union-attr]
    assert parsed.extra_index_urls == ("https://extra.example/simple", "https://abbrev.example/simple")
    assert parsed.trusted_hosts == ("extra.example", "abbrev.example")
    assert parsed.find_links == ("https://wheels.example/links", "./wheels")
    assert parsed.pre and parsed.prefer_binary and parsed.require_hashes and not parsed.no_index
    assert [r.name for r in parsed.requirements] == ["attrs"]


def test_no_index() -> None:
    assert parse("--no-index\n").no_index


def test_finder_option_after_a_requirement_is_ignored_with_a_warning() -> None:
    parsed = parse("attrs --index-url https://x.example/simple\n")
    assert parsed.index_url is None
    assert [w.message for w in parsed.warnings] == ["--index-url after a requirement is ignored by pip"]
    assert str(parsed.warnings[0]).startswith("requirements.txt:1: ")


def test_env_vars_expand_like_pip_and_urls_keep_references() -> None:
    environ = {"TOKEN": "s3cret", "VERSION": "1.2.3", "lower": "x"}
    text = (
        "--index-url https://${TOKEN}@private.example/simple\n"
        "pkg==${VERSION}\n"
        "other @ https://${TOKEN}@private.example/other-1.0.tar.gz\n"
    )
    parsed = parse(text, environ=environ)
    assert parsed.index_url == "https://${TOKEN}@private.example/simple"  # secret never copied
    pkg, other = parsed.requirements
    assert pkg.specifier == "==1.2.3"  # validated on the expanded text, as pip reads it
    assert other.url == "https://${TOKEN}@private.example/other-1.0.tar.gz"
    assert expand_env_vars("${TOKEN} ${lower} $TOKEN ${UNSET}", environ) == "s3cret ${lower} $TOKEN ${UNSET}"


# --- includes -------------------------------------------------------------------------------------


def test_includes_are_relative_to_the_including_file() -> None:
    files = {
        "reqs/base.txt": "attrs\n-c ../constraints/pins.txt\n",
        "constraints/pins.txt": "attrs<24\n",
        "reqs/dev.txt": "-r base.txt\npytest\n",
    }
    parsed = parse("-r reqs/dev.txt\nidna\n", files=files)
    assert [(r.name, str(r.location)) for r in parsed.requirements] == [
        ("attrs", "reqs/base.txt:1"),
        ("pytest", "reqs/dev.txt:2"),
        ("idna", "requirements.txt:2"),
    ]
    assert [(c.name, c.specifier, c.constraint, str(c.location)) for c in parsed.constraints] == [
        ("attrs", "<24", True, "constraints/pins.txt:1")
    ]
    assert parsed.files == ("requirements.txt", "reqs/dev.txt", "reqs/base.txt", "constraints/pins.txt")


def test_include_cycle_is_an_error_naming_the_chain() -> None:
    files = {"a.txt": "-r b.txt\n", "b.txt": "x\n-r a.txt\n"}
    with pytest.raises(RequirementsError) as info:
        parse("-r a.txt\n", files=files)
    assert str(info.value) == "b.txt:2: -r a.txt: include cycle (a.txt -> b.txt -> a.txt)"


def test_a_file_included_twice_without_a_cycle_is_fine() -> None:
    files = {"common.txt": "attrs\n", "x.txt": "-r common.txt\n"}
    parsed = parse("-r common.txt\n-r x.txt\n", files=files)
    assert [r.name for r in parsed.requirements] == ["attrs", "attrs"]


def test_parse_requirements_file_reads_from_disk(tmp_path: Path) -> None:
    (tmp_path / "reqs").mkdir()
    (tmp_path / "reqs" / "main.txt").write_text("-r extra/more.txt\nattrs\n", encoding="utf-8")
    (tmp_path / "reqs" / "extra").mkdir()
    (tmp_path / "reqs" / "extra" / "more.txt").write_bytes(b"\xef\xbb\xbfidna\n")  # a BOM, as Notepad writes
    parsed = parse_requirements_file("reqs/main.txt", root=tmp_path, environ={})
    assert [(r.name, str(r.location)) for r in parsed.requirements] == [
        ("idna", "reqs/extra/more.txt:1"),
        ("attrs", "reqs/main.txt:2"),
    ]
    with pytest.raises(RequirementsError, match=r"^missing.txt: no such requirements file 'missing.txt'$"):
        parse_requirements_file("missing.txt", root=tmp_path)


# --- errors: one line naming file:line ---------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "attrs\nfoo ==\n",
            "requirements.txt:2: cannot parse 'foo ==': Expected semicolon (after name with no version specifier) or end",
        ),
        (
            "x\n--no-deps\n",
            "requirements.txt:2: unknown option '--no-deps' (pip does not accept --no-deps in requirements files; set env.python.pip.no-deps: true in config.yaml)",
        ),
        ("--frobnicate\n", "requirements.txt:1: unknown option '--frobnicate'"),
        ("-x\n", "requirements.txt:1: unknown option '-x'"),
        ("--index-url\n", "requirements.txt:1: option --index-url requires a value"),
        ("--pre=yes\n", "requirements.txt:1: option --pre takes no value"),
        ("-r missing.txt\n", "requirements.txt:1: -r missing.txt: no such file 'missing.txt'"),
        (
            "-r https://example.com/r.txt\n",
            "requirements.txt:1: -r https://example.com/r.txt: remote requirements files are not read (the job must not depend on a URL at capture time); download it next to the job",
        ),
        (
            "pkg --hash=md5:abcd\n",
            "requirements.txt:1: --hash 'md5:abcd': unsupported algorithm 'md5' (pip accepts sha256, sha384, sha512)",
        ),
        ("pkg --hash=sha256\n", "requirements.txt:1: --hash 'sha256': expected ALGORITHM:DIGEST (sha256:...)"),
        ("pkg --hash=sha256:xyz\n", "requirements.txt:1: --hash 'sha256:xyz': the digest is not hexadecimal"),
        (
            "foo; python_version <\n",
            "requirements.txt:1: cannot parse 'foo; python_version <': invalid marker: Expected a marker variable or quoted string",
        ),
        (
            "-e https://example.com/pkg.tar.gz\n",
            "requirements.txt:1: cannot parse '-e https://example.com/pkg.tar.gz': an editable must be a local path or a VCS URL (git+https://..., git+file://...)",
        ),
        (
            '--extra-index-url "unclosed\n',
            "requirements.txt:1: cannot split options '--extra-index-url \"unclosed': No closing quotation",
        ),
        (
            "./bad-name.whl\n",
            "requirements.txt:1: cannot parse './bad-name.whl': Invalid wheel filename (wrong number of parts): 'bad-name'",
        ),
        ("-e ./a -e ./b\n", "requirements.txt:1: only one -e/--editable per line"),
    ],
)
def test_error_lines(text: str, message: str) -> None:
    with pytest.raises(RequirementsError) as info:
        parse(text)
    assert str(info.value) == message
    assert "\n" not in str(info.value)
    assert info.value.exit_code == 2


def test_constraints_must_be_named() -> None:
    files = {"c.txt": "-e ./lib\n"}
    with pytest.raises(RequirementsError, match=r"^c.txt:1: cannot use '-e ./lib' as a constraint"):
        parse("-c c.txt\n", files=files)


_LINE_ALPHABET = st.sampled_from(
    [*"abcXYZ019._-[],;<>=!~@#:/\\ \"'$", "${A}", "--hash=", "-e ", "-r ", "-c ", "--pre", "-i ", " and ", "extra", "\n"]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_LINE_ALPHABET, max_size=30).map("".join))
def test_never_a_traceback(text: str) -> None:
    """Whatever the text, the parser returns or raises a one-line EnvcaptureError."""
    try:
        parse(text, files={"requirements.txt": text, "c": "x\n"}, environ={"A": "1"})
    except EnvcaptureError as exc:
        assert "\n" not in str(exc)
