"""Requirements files (pip syntax) -> `ParsedRequirements`, every item with its `Location`.

The grammar is pip's (``pip/_internal/req/req_file.py``), applied in pip's order:

1. lines ending in ``\\`` are joined to the next one (not after a comment); the joined
   line keeps the number of its first physical line;
2. comments (``#`` at the start or after whitespace) are removed, blank lines skipped;
3. ``${VAR}`` (upper case, digits, ``_``) is expanded from the environment when set;
4. the line is cut at the first token that starts with ``-``: what precedes is the
   requirement, what follows are options (shlex-split). Options of a line without a
   requirement set finder options (``--index-url``...); options after a requirement are
   per-requirement (``--hash``, ``--config-settings``, ``--global-option``).

Differences from pip, on purpose:

- an include cycle (``-r a.txt`` in ``b.txt`` and back) is an error naming the chain,
  where pip recurses until it crashes;
- ``--no-deps`` is refused exactly as pip refuses it (pip has no such option in files),
  with a hint pointing at ``env.python.pip.no-deps``;
- finder options written after a requirement on the same line, which pip silently
  ignores, are ignored too but reported in ``warnings``;
- URLs and hosts of options are kept as written, ``${VAR}`` references unexpanded, so
  secrets referenced that way never get copied into a lock; requirement lines are
  validated on the expanded text, as pip reads them.

Everything that goes wrong is a `RequirementsError` whose text is one line:
``requirements.txt:7: cannot parse 'foo ==': Expected ...``.
"""

from __future__ import annotations

import os
import posixpath
import re
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from packaging.markers import InvalidMarker, Marker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename

from envcapture._fs import read_user_file
from envcapture.errors import Location, RequirementsError
from envcapture.model import Diagnostic, DistName, Severity, dist_name

__all__ = [
    "FileOption",
    "ParsedRequirements",
    "RequirementLine",
    "expand_env_vars",
    "parse_requirements_file",
    "parse_requirements_text",
]


def __dir__() -> list[str]:
    return __all__


# pip: (^|\s+)#.*$ -- a '#' glued to text (a URL fragment) is not a comment.
_COMMENT_RE = re.compile(r"(^|\s+)#.*$")
# pip: only ${UPPER_CASE_1}; "$HOME" and "${lower}" stay as written.
_ENV_VAR_RE = re.compile(r"\$\{([A-Z0-9_]+)\}")
_VCS_SCHEMES = frozenset(
    f"{vcs}+{proto}"
    for vcs, protos in {
        "git": ("http", "https", "ssh", "git", "file"),
        "hg": ("http", "https", "ssh", "static-http", "file"),
        "svn": ("http", "https", "ssh", "svn", "file"),
        "bzr": ("http", "https", "ssh", "sftp", "ftp", "lp", "file"),
    }.items()
    for proto in protos
) | {"git", "hg", "svn", "bzr"}
_URL_SCHEMES = frozenset({"http", "https", "file", "ftp"}) | _VCS_SCHEMES
_ARCHIVE_SUFFIXES = (".whl", ".zip", ".tar.gz", ".tgz", ".tar.bz2", ".tbz", ".tar.xz", ".txz", ".tar")
_STRONG_HASHES = frozenset({"sha256", "sha384", "sha512"})


@dataclass(frozen=True, slots=True)
class _Opt:
    long: str
    short: str | None
    takes_value: bool
    scope: str  # "file": finder/include option; "req": per requirement; "both": -e


_OPTIONS: tuple[_Opt, ...] = (
    _Opt("--index-url", "-i", True, "file"),
    _Opt("--extra-index-url", None, True, "file"),
    _Opt("--no-index", None, False, "file"),
    _Opt("--constraint", "-c", True, "file"),
    _Opt("--requirement", "-r", True, "file"),
    _Opt("--editable", "-e", True, "both"),
    _Opt("--find-links", "-f", True, "file"),
    _Opt("--no-binary", None, True, "file"),
    _Opt("--only-binary", None, True, "file"),
    _Opt("--prefer-binary", None, False, "file"),
    _Opt("--require-hashes", None, False, "file"),
    _Opt("--pre", None, False, "file"),
    _Opt("--trusted-host", None, True, "file"),
    _Opt("--use-feature", None, True, "file"),
    _Opt("--global-option", None, True, "req"),
    _Opt("--hash", None, True, "req"),
    _Opt("--config-settings", "-C", True, "req"),
)
_BY_LONG = {opt.long: opt for opt in _OPTIONS}
_BY_SHORT = {opt.short: opt for opt in _OPTIONS if opt.short}
# Options pip users reach for that pip refuses inside a requirements file.
_REFUSED_HINTS = {
    "--no-deps": "pip does not accept --no-deps in requirements files; set env.python.pip.no-deps: true in config.yaml",
    "--upgrade": "pip does not accept --upgrade in requirements files",
    "--user": "pip does not accept --user in requirements files",
    "--install-option": "pip removed --install-option; use --config-settings",
}


@dataclass(frozen=True, slots=True, kw_only=True, order=True)
class FileOption:
    """One pip option line (or one option of a line): ``--index-url URL`` at file:line.

    ``name`` is the long option without dashes (``index-url``); ``value`` is as written,
    ``${VAR}`` references kept, or ``None`` for a flag (``--pre``).
    """

    name: str
    value: str | None
    location: Location


@dataclass(frozen=True, slots=True, kw_only=True)
class RequirementLine:
    """One requirement of a requirements file.

    ``name`` is ``None`` for an unnamed local path or URL (no ``#egg=`` and not a wheel).
    ``url`` is set for URLs and ``name @ url``, as written (``${VAR}`` kept); ``path``
    for a local directory or archive, as written. ``specifier`` is normalized text
    (``>=1.0,<2``) or ``""``. ``hashes`` are ``"sha256:<hex>"``, sorted.
    """

    location: Location
    text: str
    name: DistName | None
    display_name: str | None = None
    extras: frozenset[str] = frozenset()
    specifier: str = ""
    url: str | None = None
    path: str | None = None
    markers: str | None = None
    editable: bool = False
    constraint: bool = False
    hashes: tuple[str, ...] = ()
    config_settings: tuple[str, ...] = ()
    global_options: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class ParsedRequirements:
    """Everything a requirements file (and the files it includes) says, in file order.

    The properties give the effective finder options the way pip computes them:
    the last ``--index-url`` wins, lists accumulate in order without duplicates.
    """

    files: tuple[str, ...] = ()
    requirements: tuple[RequirementLine, ...] = ()
    constraints: tuple[RequirementLine, ...] = ()
    options: tuple[FileOption, ...] = ()
    warnings: tuple[Diagnostic, ...] = ()

    def _values(self, name: str) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for opt in self.options:
            if opt.name == name and opt.value is not None:
                seen.setdefault(opt.value)
        return tuple(seen)

    def _flag(self, name: str) -> bool:
        return any(opt.name == name for opt in self.options)

    def option(self, name: str) -> FileOption | None:
        """The last occurrence of option ``name`` (``index-url``), with its location."""
        found = None
        for opt in self.options:
            if opt.name == name:
                found = opt
        return found

    @property
    def index_url(self) -> str | None:
        opt = self.option("index-url")
        return opt.value if opt is not None else None

    @property
    def no_index(self) -> bool:
        return self._flag("no-index")

    @property
    def extra_index_urls(self) -> tuple[str, ...]:
        return self._values("extra-index-url")

    @property
    def trusted_hosts(self) -> tuple[str, ...]:
        return self._values("trusted-host")

    @property
    def find_links(self) -> tuple[str, ...]:
        return self._values("find-links")

    @property
    def pre(self) -> bool:
        return self._flag("pre")

    @property
    def prefer_binary(self) -> bool:
        return self._flag("prefer-binary")

    @property
    def require_hashes(self) -> bool:
        return self._flag("require-hashes")


def expand_env_vars(text: str, environ: Mapping[str, str]) -> str:
    """Expand ``${VAR}`` the way pip does: only upper-case names, only when set and non-empty."""

    def repl(match: re.Match[str]) -> str:
        value = environ.get(match.group(1))
        return value if value else match.group(0)

    return _ENV_VAR_RE.sub(repl, text)


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """pip's ``join_lines`` + ``ignore_comments``: (first physical line number, text)."""
    joined: list[tuple[int, str]] = []
    pending: list[str] = []
    first = 0
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.endswith("\\") or _COMMENT_RE.match(line):
            if _COMMENT_RE.match(line):
                line = " " + line
            if pending:
                pending.append(line)
                joined.append((first, "".join(pending)))
                pending = []
            else:
                joined.append((number, line))
        else:
            if not pending:
                first = number
            pending.append(line.strip("\\"))
    if pending:
        joined.append((first, "".join(pending)))
    result = []
    for number, line in joined:
        line = _COMMENT_RE.sub("", line).strip()
        if line:
            result.append((number, line))
    return result


def _break_args_options(line: str) -> tuple[str, str]:
    """pip: the requirement is every space-separated token before the first ``-`` token."""
    tokens = line.split(" ")
    args: list[str] = []
    for i, token in enumerate(tokens):
        if token.startswith("-"):
            return " ".join(args), " ".join(tokens[i:])
        args.append(token)
    return " ".join(args), ""


def _lookup_long(token: str, loc: Location) -> _Opt:
    if token in _BY_LONG:
        return _BY_LONG[token]
    if token in _REFUSED_HINTS:
        raise RequirementsError(f"unknown option {token!r}", location=loc, hint=_REFUSED_HINTS[token])
    # optparse accepts any unambiguous prefix of a long option (--extra -> --extra-index-url)
    matches = [opt for name, opt in _BY_LONG.items() if name.startswith(token)]
    if len(matches) == 1 and len(token) > 2:
        return matches[0]
    if len(matches) > 1 and len(token) > 2:
        names = ", ".join(sorted(m.long for m in matches))
        raise RequirementsError(f"ambiguous option {token!r} (could be {names})", location=loc)
    raise RequirementsError(f"unknown option {token!r}", location=loc)


def _parse_options(text: str, loc: Location) -> list[tuple[_Opt, str | None]]:
    """optparse-like parsing of pip's line options; errors name the option."""
    try:
        tokens = shlex.split(text)
    except ValueError as exc:
        raise RequirementsError(f"cannot split options {text!r}: {exc}", location=loc) from exc
    result: list[tuple[_Opt, str | None]] = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        i += 1
        value: str | None = None
        if token.startswith("--"):
            name, eq, inline = token.partition("=")
            opt = _lookup_long(name, loc)
            if eq:
                if not opt.takes_value:
                    raise RequirementsError(f"option {opt.long} takes no value", location=loc)
                value = inline
        elif token.startswith("-") and len(token) > 1:
            opt_or_none = _BY_SHORT.get(token[:2])
            if opt_or_none is None:
                raise RequirementsError(f"unknown option {token[:2]!r}", location=loc)
            opt = opt_or_none
            if len(token) > 2:
                if not opt.takes_value:
                    raise RequirementsError(f"unknown option {token!r}", location=loc)
                value = token[2:]
        else:
            raise RequirementsError(f"unexpected {token!r} after options (a requirement must come first)", location=loc)
        if opt.takes_value and value is None:
            if i >= len(tokens):
                raise RequirementsError(f"option {opt.long} requires a value", location=loc)
            value = tokens[i]
            i += 1
        result.append((opt, value))
    return result


def _scheme(text: str) -> str | None:
    if ":" not in text:
        return None
    return text.split(":", 1)[0].lower()


def _is_url(text: str) -> bool:
    return _scheme(text) in _URL_SCHEMES


def _looks_like_path(text: str) -> bool:
    return "/" in text or os.sep in text or text.startswith(".") or text.lower().endswith(_ARCHIVE_SUFFIXES)


_EXTRAS_RE = re.compile(r"^(?P<body>.*?)(?P<extras>\[[^\[\]]*\])?$")


def _split_extras(text: str, loc: Location, shown: str) -> tuple[str, frozenset[str]]:
    match = _EXTRAS_RE.match(text)
    if match is None or not match.group("extras"):  # pragma: no cover - the regex always matches
        return text, frozenset()
    inner = match.group("extras")[1:-1]
    extras = frozenset(canonicalize_name(e.strip()) for e in inner.split(",") if e.strip())
    for extra in extras:
        if not re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", extra):
            raise RequirementsError(f"cannot parse {shown!r}: invalid extra {extra!r}", location=loc)
    return match.group("body"), extras


def _fragment_param(url: str, key: str) -> str | None:
    _, _, fragment = url.partition("#")
    for part in fragment.split("&"):
        k, _, v = part.partition("=")
        if k == key and v:
            return v
    return None


@dataclass(frozen=True, slots=True, kw_only=True)
class _Req:
    name: DistName | None
    display_name: str | None
    extras: frozenset[str]
    specifier: str
    url: str | None
    path: str | None
    markers: str | None


def _name_from_link(link: str, loc: Location, shown: str) -> tuple[DistName | None, str | None, str]:
    """(name, display name, pinned specifier) for a URL or path: wheel filename or #egg=."""
    base = link.split("#", 1)[0].split("?", 1)[0].rstrip("/")
    filename = base.rsplit("/", 1)[-1]
    if filename.endswith(".whl"):
        try:
            name, version, _, _ = parse_wheel_filename(filename)
        except InvalidWheelFilename as exc:
            raise RequirementsError(f"cannot parse {shown!r}: {exc}", location=loc) from exc
        return DistName(name), filename.split("-", 1)[0], f"=={version}"
    egg = _fragment_param(link, "egg")
    if egg:
        egg_name = re.split(r"[^A-Za-z0-9._-]", egg, maxsplit=1)[0]
        if not egg_name:
            raise RequirementsError(f"cannot parse {shown!r}: invalid #egg={egg!r}", location=loc)
        return dist_name(egg_name), egg_name, ""
    return None, None, ""


def _parse_marker(text: str, loc: Location, shown: str) -> str | None:
    text = text.strip()
    if not text:
        return None
    try:
        return str(Marker(text))
    except InvalidMarker as exc:
        first = str(exc).splitlines()[0]
        raise RequirementsError(f"cannot parse {shown!r}: invalid marker: {first}", location=loc) from exc


def _parse_req(arg: str, loc: Location, *, editable: bool) -> _Req:
    """One requirement: PEP 508, a URL (with ``; marker``), or a local path (``[extras]``)."""
    shown = arg
    if editable:
        body, extras = _split_extras(arg.strip(), loc, shown)
        if _is_url(body):
            if _scheme(body) not in _VCS_SCHEMES and _scheme(body) != "file":
                raise RequirementsError(
                    f"cannot parse '-e {shown}': an editable must be a local path or a VCS URL (git+https://..., git+file://...)",
                    location=loc,
                )
            name, display, _ = _name_from_link(body, loc, shown)
            return _Req(name=name, display_name=display, extras=extras, specifier="", url=body, path=None, markers=None)
        return _Req(name=None, display_name=None, extras=extras, specifier="", url=None, path=body, markers=None)

    marker_sep = "; " if _is_url(arg) else ";"
    markers: str | None = None
    body = arg
    if marker_sep in arg:
        body, marker_text = arg.split(marker_sep, 1)
        markers = _parse_marker(marker_text, loc, shown)
    body = body.strip()
    if _is_url(body):
        name, display, spec = _name_from_link(body, loc, shown)
        return _Req(name=name, display_name=display, extras=frozenset(), specifier=spec, url=body, path=None, markers=markers)
    if "@" not in body and _looks_like_path(body):
        path, extras = _split_extras(body, loc, shown)
        name, display, spec = _name_from_link(path, loc, shown)
        return _Req(name=name, display_name=display, extras=extras, specifier=spec, url=None, path=path, markers=markers)
    try:
        req = Requirement(body if markers is None else f"{body}; {markers}")
    except InvalidRequirement as exc:
        first = str(exc).splitlines()[0]
        raise RequirementsError(f"cannot parse {shown!r}: {first}", location=loc) from exc
    return _Req(
        name=dist_name(req.name),
        display_name=req.name,
        extras=frozenset(canonicalize_name(e) for e in req.extras),
        specifier=str(req.specifier),
        url=req.url,
        path=None,
        markers=str(req.marker) if req.marker is not None else None,
    )


def _check_hash(value: str, loc: Location) -> str:
    algo, sep, digest = value.partition(":")
    if not sep or not digest:
        raise RequirementsError(f"--hash {value!r}: expected ALGORITHM:DIGEST (sha256:...)", location=loc)
    algo = algo.lower()
    if algo not in _STRONG_HASHES:
        raise RequirementsError(
            f"--hash {value!r}: unsupported algorithm {algo!r} (pip accepts sha256, sha384, sha512)",
            location=loc,
        )
    if not re.fullmatch(r"[0-9a-fA-F]+", digest):
        raise RequirementsError(f"--hash {value!r}: the digest is not hexadecimal", location=loc)
    return f"{algo}:{digest.lower()}"


Reader = Callable[[str], str]


class _Parser:
    def __init__(self, read: Reader | None, environ: Mapping[str, str]) -> None:
        self.read = read
        self.environ = environ
        self.files: list[str] = []
        self.requirements: list[RequirementLine] = []
        self.constraints: list[RequirementLine] = []
        self.options: list[FileOption] = []
        self.warnings: list[Diagnostic] = []

    def parse(self, text: str, file: str, *, constraint: bool, stack: tuple[str, ...]) -> None:
        self.files.append(file)
        for number, raw in _logical_lines(text):
            self._line(raw, Location(file=file, line=number), constraint=constraint, stack=stack)

    def _include(self, ref: str, loc: Location, *, constraint: bool, stack: tuple[str, ...]) -> None:
        flag = "-c" if constraint else "-r"
        if _scheme(ref) in {"http", "https", "file"}:
            raise RequirementsError(
                f"{flag} {ref}: remote requirements files are not read (the job must not depend "
                "on a URL at capture time); download it next to the job",
                location=loc,
            )
        if _scheme(loc.file or "") in {"http", "https"}:  # pragma: no cover - remote files refused above
            raise RequirementsError(f"{flag} {ref}: cannot include from a remote file", location=loc)
        base = posixpath.dirname(loc.file or "")
        target = posixpath.normpath(posixpath.join(base, ref.replace(os.sep, "/")))
        if target in stack:
            chain = " -> ".join((*stack[stack.index(target) :], target))
            raise RequirementsError(f"{flag} {ref}: include cycle ({chain})", location=loc)
        if self.read is None:
            raise RequirementsError(f"{flag} {ref}: includes are not available here", location=loc)
        try:
            text = self.read(target)
        except FileNotFoundError as exc:
            raise RequirementsError(f"{flag} {ref}: no such file {target!r}", location=loc) from exc
        except OSError as exc:
            raise RequirementsError(f"{flag} {ref}: cannot read {target!r}: {exc.strerror or exc}", location=loc) from exc
        except UnicodeDecodeError as exc:
            raise RequirementsError(f"{flag} {ref}: cannot read {target!r}: {exc}", location=loc) from exc
        self.parse(text, target, constraint=constraint, stack=(*stack, target))

    def _line(self, raw: str, loc: Location, *, constraint: bool, stack: tuple[str, ...]) -> None:
        expanded = expand_env_vars(raw, self.environ)
        args_raw, opts_raw = _break_args_options(raw)
        args_exp, opts_exp = _break_args_options(expanded)
        parsed_raw = _parse_options(opts_raw, loc)
        parsed_exp = _parse_options(opts_exp, loc)
        editables = [(o, v) for o, v in parsed_exp if o.long == "--editable"]
        if args_exp:
            self._requirement(args_raw, args_exp, parsed_exp, loc, constraint=constraint, editable=False)
            ignored = sorted({o.long for o, _ in parsed_exp if o.scope != "req"})
            if ignored:
                self.warnings.append(_warn(loc, f"{', '.join(ignored)} after a requirement is ignored by pip"))
            return
        if editables:
            if len(editables) > 1:
                raise RequirementsError("only one -e/--editable per line", location=loc)
            raw_value = next(v for o, v in parsed_raw if o.long == "--editable")
            self._requirement(raw_value or "", editables[0][1] or "", parsed_exp, loc, constraint=constraint, editable=True)
            return
        for opt, value in parsed_raw:
            if opt.long == "--requirement" and value is not None:
                self._include(expand_env_vars(value, self.environ), loc, constraint=False, stack=stack)
            elif opt.long == "--constraint" and value is not None:
                self._include(expand_env_vars(value, self.environ), loc, constraint=True, stack=stack)
            elif opt.scope == "req":
                if opt.long == "--hash" and value is not None:
                    _check_hash(value, loc)
                self.warnings.append(_warn(loc, f"{opt.long} without a requirement is ignored by pip"))
            else:
                self.options.append(FileOption(name=opt.long[2:], value=value, location=loc))

    def _requirement(
        self,
        text_raw: str,
        text_exp: str,
        opts: list[tuple[_Opt, str | None]],
        loc: Location,
        *,
        constraint: bool,
        editable: bool,
    ) -> None:
        req = _parse_req(text_exp, loc, editable=editable)
        if text_raw != text_exp:
            # keep ${VAR} references of URLs and paths as written (never copy a secret)
            try:
                written = _parse_req(text_raw, loc, editable=editable)
            except RequirementsError:
                written = None
            if written is not None:
                req = _Req(
                    name=req.name,
                    display_name=req.display_name,
                    extras=req.extras,
                    specifier=req.specifier,
                    url=written.url if req.url is not None else None,
                    path=written.path if req.path is not None else None,
                    markers=req.markers,
                )
        hashes = tuple(sorted({_check_hash(v, loc) for o, v in opts if o.long == "--hash" and v}))
        line = RequirementLine(
            location=loc,
            text=("-e " if editable else "") + text_raw.strip(),
            name=req.name,
            display_name=req.display_name,
            extras=req.extras,
            specifier=req.specifier,
            url=req.url,
            path=req.path,
            markers=req.markers,
            editable=editable,
            constraint=constraint,
            hashes=hashes,
            config_settings=tuple(v for o, v in opts if o.long == "--config-settings" and v),
            global_options=tuple(v for o, v in opts if o.long == "--global-option" and v),
        )
        if constraint:
            if editable or req.name is None:
                raise RequirementsError(
                    f"cannot use {line.text!r} as a constraint: constraints must be named "
                    "(pip refuses unnamed and editable constraints)",
                    location=loc,
                )
            self.constraints.append(line)
        else:
            self.requirements.append(line)


def _warn(loc: Location, message: str) -> Diagnostic:
    return Diagnostic(
        file=loc.file, line=loc.line, code="requirements-option-ignored", message=message, severity=Severity.WARNING
    )


def parse_requirements_text(
    text: str,
    *,
    file: str = "requirements.txt",
    read: Reader | None = None,
    environ: Mapping[str, str] | None = None,
    constraint: bool = False,
) -> ParsedRequirements:
    """Parse requirements ``text`` named ``file`` (used in locations and to resolve includes).

    ``read(path)`` returns the text of an included file; ``path`` is ``file``'s directory
    joined with the include (POSIX, normalized). Without ``read`` an include is an error.
    ``environ`` expands ``${VAR}`` (default: no variables set).

    :raises RequirementsError: the first line that cannot be parsed, or a bad include.
    """
    parser = _Parser(read, environ or {})
    start = posixpath.normpath(file.replace(os.sep, "/"))
    try:
        parser.parse(text, start, constraint=constraint, stack=(start,))
    except RecursionError as exc:  # pragma: no cover - includes nested > ~300 deep
        raise RequirementsError("includes nested too deeply", location=Location(file=start)) from exc
    return ParsedRequirements(
        files=tuple(parser.files),
        requirements=tuple(parser.requirements),
        constraints=tuple(parser.constraints),
        options=tuple(parser.options),
        warnings=tuple(parser.warnings),
    )


def parse_requirements_file(
    path: str | os.PathLike[str],
    *,
    root: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> ParsedRequirements:
    """Read and parse the requirements file at ``path`` (EDGE: reads files).

    Locations name files relative to ``root`` (default: the current directory) when
    they are inside it. ``environ`` defaults to ``os.environ``.

    :raises RequirementsError: unreadable file, bad line, bad include.
    """
    base = Path(root) if root is not None else Path.cwd()
    full = Path(path) if Path(path).is_absolute() else base / path
    try:
        shown = full.resolve().relative_to(base.resolve()).as_posix()
        anchor = base
    except ValueError:
        shown = full.name
        anchor = full.parent

    def read(name: str) -> str:
        data = read_user_file(anchor / name)
        if data.startswith(b"\xef\xbb\xbf"):
            data = data[3:]
        return data.decode("utf-8")

    try:
        text = read(shown)
    except FileNotFoundError as exc:
        raise RequirementsError(f"no such requirements file {shown!r}", location=Location(file=shown)) from exc
    except OSError as exc:
        raise RequirementsError(f"cannot read requirements file: {exc.strerror or exc}", location=Location(file=shown)) from exc
    except UnicodeDecodeError as exc:
        raise RequirementsError(f"cannot read requirements file: {exc}", location=Location(file=shown)) from exc
    return parse_requirements_text(text, file=shown, read=read, environ=os.environ if environ is None else environ)
