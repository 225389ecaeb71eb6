"""Environment probe: runs INSIDE the analysed interpreter and prints one JSON document.

This file is not imported by envcapture at run time: `envcapture.environment.snapshot` sends its
source to the analysed interpreter on stdin. It must therefore run on Python 3.8+ with
the standard library only (the analysed environment may have neither ``packaging`` nor
``importlib_metadata``), and it must never import envcapture.

It reports what the interpreter has, unfiltered: every distribution that
``importlib.metadata.distributions()`` finds on ``sys.path``, in ``sys.path`` order. The
first distribution of a (canonical) name wins, as in ``importlib.metadata.version()``;
later copies are reported as ``shadowed``.

Output: the JSON document between the `BEGIN` and `END` marker lines on stdout (a
``.pth`` file or ``sitecustomize`` of the environment may print too), ASCII only.
"""

from __future__ import annotations

import json
import os
import platform
import re
import site
import sys
import sysconfig

# typing, csv and urllib.parse are imported where they are needed, if ever: the probe's start is
# on the path of every cold analysis (typing alone was 3 ms of it).
TYPE_CHECKING = False
if TYPE_CHECKING:
    import ast
    from collections.abc import Iterable
    from typing import Any, Dict  # noqa: UP035 - see Json below

    # subscripting the builtin dict fails on Python 3.8, where this file runs
    Json = Dict[str, Any]  # noqa: UP006

__all__ = [
    "BEGIN",
    "END",
    "PROBE_VERSION",
    "editable_hooks",
    "main",
    "module_from_filename",
    "modules_from_paths",
    "parse_finder_source",
    "pth_path_lines",
    "snapshot",
]

BEGIN = "----- envcapture probe begin -----"
END = "----- envcapture probe end -----"
PROBE_VERSION = 1

# Extension-module suffixes of every platform: the module name is the part before the
# first dot (``_speedups.cpython-311-x86_64-linux-gnu.so`` -> ``_speedups``).
_EXTENSION_SUFFIXES = (".so", ".pyd")
# How a path whose last part may name a module ends (`module_from_filename`), or a path
# whose last part is empty or "." (the part before it counts then).
_MAYBE_MODULE = (".py", ".pyc", *_EXTENSION_SUFFIXES, "/", "\\", ".")
# Top-level folders of an install that hold scripts, not importable code (``--target``
# and ``--prefix`` installs put them inside the location).
_SCRIPT_DIRS = ("bin", "Scripts")
# setuptools' PEP 660 hooks: ``__editable__.<name>-<ver>.pth`` and
# ``__editable___<name>_<ver>_finder.py``. Install machinery, not the dist's own code.
_EDITABLE_PREFIX = "__editable__"


def canonical(name: str) -> str:
    """PEP 503 normalization (the probe cannot rely on ``packaging``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _abs(path: str) -> str:
    return os.path.normpath(os.path.abspath(path))


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except OSError:
        return None


# --- module names from installed file lists --------------------------------------------


def module_from_filename(filename: str) -> str | None:
    """The module name a file in a package directory defines, or None if not a module.

    ``.py`` and sourceless ``.pyc`` files, and ``.so``/``.pyd`` extension modules.
    """
    if filename.endswith((".py", ".pyc")):
        stem = filename.rsplit(".", 1)[0]
        return stem if stem.isidentifier() else None
    if filename.endswith(_EXTENSION_SUFFIXES):
        stem = filename.split(".", 1)[0]
        return stem if stem.isidentifier() else None
    return None


def modules_from_paths(paths: Iterable[str]) -> list[str]:
    """Dotted module and package names from install-relative POSIX paths, sorted.

    A package directory counts when it holds a module file at some depth (this also
    names PEP 420 namespace directories such as ``nsroot`` for ``nsroot/one/x.py``).
    Skipped: ``__pycache__``, metadata directories, script folders, paths that are not
    identifiers all the way down, and setuptools' ``__editable__`` hooks.
    """
    found: set[str] = set()
    # A directory's dotted name ("" at the top), None when a part is no identifier: decided
    # once per directory, which most files of a distribution share.
    packages: dict[tuple[str, ...], str | None] = {}
    for raw in paths:
        if not raw.endswith(_MAYBE_MODULE) or "/__pycache__/" in raw:
            continue  # most rows of a RECORD: the checks below would skip them too, slower
        parts = [part for part in raw.replace("\\", "/").split("/") if part not in ("", ".")]
        if not parts or "__pycache__" in parts or ".." in parts:
            continue
        if len(parts) > 1 and parts[0] in _SCRIPT_DIRS:
            continue
        if parts[0].startswith(_EDITABLE_PREFIX):
            continue
        name = module_from_filename(parts[-1])
        if name is None:
            continue
        dirs = tuple(parts[:-1])
        if dirs not in packages:
            packages[dirs] = ".".join(dirs) if all(part.isidentifier() for part in dirs) else None
            if packages[dirs] is not None:
                found.update(".".join(dirs[:depth]) for depth in range(1, len(dirs) + 1))
        package = packages[dirs]
        if package is not None and name != "__init__":
            found.add(f"{package}.{name}" if package else name)
    return sorted(found)


# A relative POSIX path without ".", ".." or empty segments: os.path.normpath leaves it as is.
_PLAIN_RELATIVE = re.compile(r"(?!/)(?:(?!\.\.?(?:/|$))[^/]+/)*(?!\.\.?$)[^/]+$")


def _record_paths(text: str) -> list[str]:
    if '"' in text or "\r" in text or "\0" in text:
        import csv
        import io

        rows = csv.reader(io.StringIO(text))
        return [row[0] for row in rows if row and row[0]]
    # Nothing quoted, no carriage return, no NUL (which csv refuses): csv's first fields are
    # each line's text up to its first comma. Most RECORDs; csv.reader took 3x as long.
    return [path for path in (line.partition(",")[0] for line in text.split("\n")) if path]


# What `describe` keeps of an installed file list: what may name a module, and the hooks
# of an editable install (``.pth`` files, finder modules).
_LISTED = (*_MAYBE_MODULE, ".pth")


def _may_matter(path: str) -> bool:
    """Whether a listed path can count, before it is made relative: by its last part, which
    that keeps unless it is "", "." or ".." (kept here); a ``__pycache__`` file only counts
    when a ".." takes it out of there."""
    return path.endswith(_LISTED) and ("/__pycache__/" not in path or ".." in path)


def _relative_to(path: str, base: str, location: str) -> str | None:
    """``path`` (relative to ``base``, or absolute) relative to ``location``; None if outside."""
    if base == location and os.sep == "/" and _PLAIN_RELATIVE.match(path):
        return path  # most RECORD rows: already normal and relative to the location
    full = os.path.normpath(os.path.join(base, path))
    try:
        rel = os.path.relpath(full, location)
    except ValueError:  # another drive on Windows
        return None
    if rel == ".." or rel.startswith(".." + os.sep) or os.path.isabs(rel):
        return None
    return rel.replace(os.sep, "/")


# --- editable installs -------------------------------------------------------------------


def _literal_str(node: ast.AST | None) -> str | None:
    import ast  # imported by `parse_finder_source` already

    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def parse_finder_source(text: str) -> list[tuple[str, str]]:
    """(import name, path) pairs an editable finder module maps, read with `ast` (never imported).

    Understands setuptools' ``MAPPING = {...}`` and ``NAMESPACES = {name: [paths]}``
    (PEP 660 ``__editable___*_finder.py``) and the ``editables`` project's
    ``F.map_module("name", "path/__init__.py")`` calls (hatchling).
    """
    import ast  # only for an environment with an editable install (~3 ms of every probe otherwise)

    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return []
    pairs: list[tuple[str, str]] = []
    for node in ast.walk(tree):
        target: ast.AST | None = None
        value: ast.AST | None = None
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign):
            target, value = node.target, node.value
        if isinstance(target, ast.Name) and isinstance(value, ast.Dict):
            for key_node, item in zip(value.keys, value.values):
                key = _literal_str(key_node)
                if key is None:
                    continue
                if target.id == "MAPPING":
                    path = _literal_str(item)
                    if path is not None:
                        pairs.append((key, path))
                elif target.id == "NAMESPACES" and isinstance(item, (ast.List, ast.Tuple)):
                    for element in item.elts:
                        path = _literal_str(element)
                        if path is not None:
                            pairs.append((key, path))
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "map_module"
            and len(node.args) == 2
        ):
            name, path = _literal_str(node.args[0]), _literal_str(node.args[1])
            if name is not None and path is not None:
                if os.path.basename(path) == "__init__.py":
                    path = os.path.dirname(path)
                pairs.append((name, path))
    return pairs


def pth_path_lines(text: str) -> list[str]:
    """The path lines of a ``.pth`` file (``import`` lines and comments are code, not paths)."""
    lines = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith(("import ", "import\t")):
            continue
        lines.append(line)
    return lines


def _import_root(name: str, path: str) -> str:
    """The ``sys.path`` directory under which ``path`` is importable as ``name``."""
    root = path if os.path.isdir(path) else os.path.splitext(path)[0]
    for _ in name.split("."):
        root = os.path.dirname(root)
    return root


def _file_url_path(url: str) -> str | None:
    from urllib.parse import unquote, urlsplit

    parts = urlsplit(url)
    if parts.scheme != "file":
        return None
    path = unquote(parts.path)
    if os.name == "nt" and re.match(r"^/[A-Za-z]:", path):
        path = path[1:]
    if parts.netloc and parts.netloc != "localhost":
        path = "//" + parts.netloc + path
    return _abs(path)


def editable_hooks(location: str, rel_paths: list[str], editable: bool) -> tuple[list[str], list[tuple[str, str]]]:
    """Source roots and (name, path) mappings from the hooks a dist installed at ``location``.

    ``.pth`` path lines count when the dist is editable (per ``direct_url.json``) or the
    file is setuptools' ``__editable__.*.pth`` (a plain dist's ``.pth``, such as
    pywin32's, extends ``sys.path`` inside site-packages and is no source root). Finder
    modules are read with `parse_finder_source`.
    """
    roots: list[str] = []
    mappings: list[tuple[str, str]] = []
    for rel in rel_paths:
        if "/" in rel:
            continue
        full = os.path.join(location, rel)
        if rel.endswith(".pth") and (editable or rel.startswith(_EDITABLE_PREFIX)):
            text = _read(full)
            for line in pth_path_lines(text or ""):
                path = _abs(os.path.join(location, line))
                if os.path.isdir(path):
                    roots.append(path)
        elif rel.endswith(".py") and "editable" in rel and (editable or rel.startswith(_EDITABLE_PREFIX)):
            text = _read(full)
            for name, path in parse_finder_source(text or ""):
                path = _abs(path)
                mappings.append((name, path))
                roots.append(_import_root(name, path))
    return roots, mappings


def _egg_links(site_dirs: list[str]) -> dict[str, str]:
    """Legacy ``setup.py develop`` installs: target directory -> link file, from ``*.egg-link``
    files and ``easy-install.pth`` path lines of the site directories."""
    links: dict[str, str] = {}
    for site_dir in site_dirs:
        try:
            names = sorted(os.listdir(site_dir))
        except OSError:
            continue
        for name in names:
            full = os.path.join(site_dir, name)
            if name.endswith(".egg-link"):
                text = _read(full) or ""
                first = text.splitlines()[0].strip() if text.strip() else ""
                if first:
                    links.setdefault(os.path.normcase(_abs(os.path.join(site_dir, first))), full)
            elif name == "easy-install.pth":
                for line in pth_path_lines(_read(full) or ""):
                    links.setdefault(os.path.normcase(_abs(os.path.join(site_dir, line))), full)
    return links


def _listed_names(root: str, top_level: list[str]) -> list[str]:
    """Top-level import names available in an editable source root.

    ``top_level.txt`` when the dist has one, else the root's own entries (one listing,
    not a walk: a root may be a whole repository).
    """
    if top_level:
        return list(top_level)
    names = set()
    try:
        entries = os.listdir(root)
    except OSError:
        return []
    for entry in entries:
        full = os.path.join(root, entry)
        if os.path.isdir(full):
            if entry.isidentifier() and entry != "__pycache__":
                names.add(entry)
        else:
            name = module_from_filename(entry)
            if name is not None and name not in ("setup", "__init__", "conftest"):
                names.add(name)
    return sorted(names)


# --- one distribution --------------------------------------------------------------------


def _text(dist: Any, filename: str) -> str | None:
    try:
        text = dist.read_text(filename)
    except Exception:  # noqa: BLE001 - any unreadable metadata file counts as missing
        return None
    return text if isinstance(text, str) else None


# The end of a core metadata file's headers: its first empty line.
_HEADERS_END = re.compile(r"\r?\n\r?\n")


def _metadata(dist: Any) -> Any:
    """``dist.metadata`` without the body: the headers of the file it reads, split at their
    colons when each line is one field (`_simple_headers`), else parsed by the same email
    parser. The body is the long description, most of the text: parsing it line by line was
    most of the probe's time."""
    text = dist.read_text("METADATA") or dist.read_text("PKG-INFO") or dist.read_text("")
    if text is None:
        return None
    end = _HEADERS_END.search(text)
    headers = text[: end.end()] if end else text
    simple = _simple_headers(headers)
    if simple is not None:
        return simple
    import email

    return email.message_from_string(headers)


# A header line as the email parser reads one: a field name (printable ASCII but ":"), a
# colon, the value after its leading blanks (compat32's header_source_parse).
_HEADER = re.compile(r"([!-9;-~]+):[ \t]*")


class _Headers:
    """The fields of a metadata file's headers, with the ``get`` and ``get_all`` of the
    ``email.message.Message`` the email parser would give (names without case)."""

    def __init__(self, fields: list[tuple[str, str]]) -> None:
        self._fields = fields

    def get(self, name: str) -> str | None:
        name = name.lower()
        for key, value in self._fields:
            if key == name:
                return value
        return None

    def get_all(self, name: str) -> list[str] | None:
        name = name.lower()
        return [value for key, value in self._fields if key == name] or None


def _simple_headers(text: str) -> _Headers | None:
    """The headers of ``text`` when each line is one ``Name: value`` field or goes on the one
    before (folded), read without the email parser (a fifth of the probe's time); None for
    anything it decides otherwise: a carriage return, a line that is no field."""
    if "\r" in text:
        return None
    fields: list[tuple[str, str]] = []
    for line in text.split("\n"):
        if not line:
            break  # the empty line that ends the headers
        if line[0] in " \t":  # a folded value goes on (a License's text): the parser keeps its lines
            if not fields:
                return None
            name, value = fields[-1]
            fields[-1] = (name, value + "\n" + line)
            continue
        match = _HEADER.match(line)
        if match is None:
            return None
        fields.append((match.group(1).lower(), line[match.end() :]))
    return _Headers(fields)


def _egg_info_requires(dist: Any) -> list[str] | None:
    """What ``dist.requires`` gives when the metadata has no Requires-Dist: the egg-info's
    ``requires.txt``, else None (asked only then: it parses the metadata again)."""
    if _text(dist, "requires.txt") is None:
        return None
    requires = dist.requires
    return list(requires) if requires is not None else None


def describe(dist: Any, egg_links: dict[str, str]) -> Json:
    """One distribution as a JSON-ready dict (raises on unreadable metadata)."""
    meta_path = getattr(dist, "_path", None)
    metadata_dir = _abs(str(meta_path)) if meta_path is not None else ""
    if metadata_dir:
        location = os.path.dirname(metadata_dir)
    else:
        location = _abs(str(dist.locate_file("")))
    md = _metadata(dist)
    # .get(): a missing key raises KeyError with [] on newer importlib.metadata
    name = md.get("Name") if md is not None else None
    if not name:
        raise ValueError("no Name in its metadata")
    extras = md.get_all("Provides-Extra") or []
    requires_python = md.get("Requires-Python")

    direct_url = _text(dist, "direct_url.json")
    editable = False
    editable_roots: list[str] = []
    if direct_url is not None:
        try:
            info = json.loads(direct_url)
            if isinstance(info, dict) and (info.get("dir_info") or {}).get("editable"):
                editable = True
                project = _file_url_path(str(info.get("url", "")))
                if project:
                    editable_roots.append(project)
        except (ValueError, AttributeError):
            pass

    record = _text(dist, "RECORD")
    has_record = record is not None
    rel_paths: list[str] = []
    if record is not None:
        raw, base = _record_paths(record), location
    else:
        # egg-info: installed-files.txt lists paths relative to the .egg-info directory
        listing = _text(dist, "installed-files.txt")
        raw = [line.strip() for line in (listing or "").splitlines() if line.strip()]
        base = metadata_dir or location
    for path in raw:
        if not _may_matter(path):
            continue  # most rows: bytecode, data, metadata
        rel = _relative_to(path, base, location)
        if rel is not None:
            rel_paths.append(rel)
    modules = set(modules_from_paths(rel_paths))

    top_level_txt = []
    for line in (_text(dist, "top_level.txt") or "").splitlines():
        entry = line.strip().replace("/", ".")
        if entry and all(part.isidentifier() for part in entry.split(".")):
            top_level_txt.append(entry)

    roots, mappings = editable_hooks(location, rel_paths, editable)
    editable_roots.extend(roots)
    link = egg_links.get(os.path.normcase(location)) if metadata_dir.endswith(".egg-info") else None
    if link is not None:
        editable_roots.append(location)
    for mapped_name, _path in mappings:
        parts = mapped_name.split(".")
        for depth in range(1, len(parts) + 1):
            modules.add(".".join(parts[:depth]))
    if (editable or link is not None) and not mappings:
        for root in roots or ([location] if link is not None else []):
            modules.update(_listed_names(root, top_level_txt))
    if not modules and top_level_txt:
        modules.update(top_level_txt)
    top_level = sorted({module.split(".")[0] for module in modules})

    requested = _text(dist, "REQUESTED") is not None
    installer = (_text(dist, "INSTALLER") or "").strip() or None
    seen_roots: list[str] = []
    for root in editable_roots:
        if root not in seen_roots:
            seen_roots.append(root)
    return {
        "name": str(name),
        "version": str(md.get("Version") or ""),
        "requires": [str(req) for req in (md.get_all("Requires-Dist") or _egg_info_requires(dist) or [])],
        "provides_extras": [str(extra) for extra in extras],
        "requires_python": str(requires_python) if requires_python else None,
        "top_level": top_level,
        "modules": sorted(modules),
        "location": location,
        "metadata_dir": metadata_dir,
        "direct_url": direct_url,
        "installer": installer,
        "requested": requested,
        "has_record": has_record,
        "editable_roots": seen_roots,
        "editable_mappings": sorted({(n, p) for n, p in mappings}),
    }


# --- the distributions on sys.path -------------------------------------------------------

# The Pythons whose ``importlib.metadata.distributions()`` `_path_distributions` reads as they
# do (the same ``MetadataPathFinder``, ``FastPath``, ``Lookup`` and ``PathDistribution.read_text``
# in 3.10 to 3.13); another asks importlib.metadata itself.
_SAME_DISCOVERY = ((3, 10), (3, 11), (3, 12), (3, 13))


class MetadataDir:
    """A ``*.dist-info`` or ``*.egg-info`` entry of a ``sys.path`` directory, read as
    ``importlib.metadata.PathDistribution`` reads it."""

    def __init__(self, path: str) -> None:
        # Spelled as pathlib spells it (`_posix_path`): the path an error reading one of its files
        # names, and the one the system is asked for (a "/./"-padded one may be too long for it).
        self._path = path

    def read_text(self, filename: str) -> str | None:
        # pathlib's joinpath drops an empty name: "" reads an egg-info that is a file itself.
        path = self._path + "/" + filename if filename else self._path
        try:
            with open(path, encoding="utf-8") as handle:
                return handle.read()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError):
            return None

    @property
    def requires(self) -> list[str] | None:
        """``PathDistribution.requires`` (an egg-info's requires.txt: rare, read by importlib)."""
        import pathlib
        from importlib import metadata as importlib_metadata

        return importlib_metadata.PathDistribution(pathlib.Path(self._path)).requires


def _posix_path(path: str) -> str:
    """``str(pathlib.PurePosixPath(path))``: without empty and "." parts, a leading "//" kept."""
    anchor = "//" if path[:2] == "//" and path[2:3] != "/" else "/" if path[:1] == "/" else ""
    return anchor + "/".join(part for part in path.split("/") if part not in ("", ".")) or "."


def _path_distributions() -> list[MetadataDir] | None:
    """What ``importlib.metadata.distributions()`` gives, in its order, without importing it
    (~45 ms of the probe's start: email, zipfile, pathlib): when the standard path finder is
    the only one that finds distributions and every ``sys.path`` entry is a directory or
    missing. None otherwise (a zip on ``sys.path``, another finder, another Python, Windows).

    Its order: ``sys.path`` in order; in each directory the ``.dist-info``/``.egg-info``
    entries grouped by normalized name, groups in the order of their first entry, the
    directory's listing order within one; then an ``.egg`` directory's ``EGG-INFO``.
    """
    if sys.version_info[:2] not in _SAME_DISCOVERY or os.sep != "/":
        return None
    import importlib.machinery

    finders = [finder for finder in sys.meta_path if getattr(finder, "find_distributions", None) is not None]
    if finders != [importlib.machinery.PathFinder]:
        return None
    found: list[MetadataDir] = []
    for root in sys.path:
        if not isinstance(root, str):
            return None
        try:
            children = os.listdir(root or ".")
        except NotADirectoryError:
            return None  # a zip file: importlib.metadata reads its listing
        except Exception:  # noqa: BLE001 - importlib.metadata finds nothing there either
            children = []
        base = os.path.basename(root).lower()
        infos: dict[str, list[str]] = {}
        eggs: list[str] = []
        for child in children:
            low = child.lower()
            if low.endswith((".dist-info", ".egg-info")):
                name = low.rpartition(".")[0].partition("-")[0]
                # importlib's Prepared.normalize: `canonical` with "_" for "-", the same groups
                infos.setdefault(canonical(name), []).append(child)
            elif low == "egg-info" and base.endswith(".egg"):
                eggs.append(child)  # one legacy name (the directory's) for all
        # pathlib.Path(root, child), as importlib.metadata's FastPath joins them
        prefix = _posix_path(root)
        prefix = "" if prefix == "." else prefix if prefix.endswith("/") else prefix + "/"
        for group in infos.values():
            found.extend(MetadataDir(prefix + child) for child in group)
        found.extend(MetadataDir(prefix + child) for child in eggs)
    return found


def _distributions() -> Iterable[Any]:
    """The distributions on ``sys.path``, as ``importlib.metadata.distributions()`` gives them."""
    found = _path_distributions()
    if found is not None:
        return found
    # Imported here: envcapture imports this module for its markers, and importlib.metadata
    # (email, zipfile) costs it ~30 ms it does not use.
    from importlib import metadata as importlib_metadata

    return importlib_metadata.distributions()


# --- the interpreter ----------------------------------------------------------------------


def _ordered_unique(paths: Iterable[str]) -> list[str]:
    seen = set()
    result = []
    for path in paths:
        key = os.path.normcase(path)
        if key not in seen:
            seen.add(key)
            result.append(path)
    return result


def _site_packages(sys_path: list[str]) -> list[str]:
    candidates: list[str] = []
    try:
        candidates.extend(site.getsitepackages())
    except AttributeError:  # an old virtualenv's own site.py
        pass
    if site.ENABLE_USER_SITE:
        candidates.append(site.getusersitepackages())
    paths = sysconfig.get_paths()
    candidates.extend([paths["purelib"], paths["platlib"]])
    wanted = {os.path.normcase(_abs(path)) for path in candidates}
    found = []
    for entry in sys_path:
        base = os.path.basename(entry)
        if os.path.normcase(entry) in wanted or base in ("site-packages", "dist-packages"):
            found.append(entry)
    return _ordered_unique(found)


def _stdlib_dirs(sys_path: list[str], site_dirs: list[str]) -> list[str]:
    paths = sysconfig.get_paths()
    # In a venv "platstdlib" names the venv's own lib/pythonX.Y, which holds only
    # site-packages: keep the directories that really hold the stdlib (os.py).
    dirs = [_abs(paths[key]) for key in ("stdlib", "platstdlib") if os.path.isfile(os.path.join(paths[key], "os.py"))]
    prefixes = [os.path.normcase(path) + os.sep for path in dirs]
    site_keys = {os.path.normcase(path) for path in site_dirs}
    for entry in sys_path:  # lib-dynload and the like
        key = os.path.normcase(entry)
        if key not in site_keys and any(key.startswith(prefix) for prefix in prefixes):
            dirs.append(entry)
    return _ordered_unique(dirs)


def snapshot() -> Json:
    """Everything the probe reports, as a JSON-ready dict."""
    # '' is the directory of the -c/stdin script, i.e. the caller's cwd: not the env's.
    sys.path[:] = [entry for entry in sys.path if entry]
    # Relative entries are path-hook placeholders (setuptools' "<finder>.__path_hook__"),
    # not directories: resolving them against our cwd would invent one.
    sys_path = _ordered_unique(os.path.normpath(e) for e in sys.path if os.path.isabs(e))
    site_dirs = _site_packages(sys_path)
    egg_links = _egg_links(site_dirs)

    distributions: list[Json] = []
    shadowed: list[Json] = []
    problems: list[Json] = []
    seen = set()
    for dist in _distributions():
        try:
            info = describe(dist, egg_links)
        except Exception as exc:  # noqa: BLE001 - one broken dist must not hide the others
            where = str(getattr(dist, "_path", "") or "")
            problems.append({"path": where, "error": f"{type(exc).__name__}: {exc}"})
            continue
        key = canonical(info["name"])
        if key in seen:
            shadowed.append(info)
        else:
            seen.add(key)
            distributions.append(info)

    return {
        "probe_version": PROBE_VERSION,
        "executable": sys.executable,
        "python_version": platform.python_version(),
        "implementation": sys.implementation.name,
        "sys_platform": sys.platform,
        "platform_machine": platform.machine(),
        "prefix": sys.prefix,
        "base_prefix": getattr(sys, "base_prefix", sys.prefix),
        "sys_path": sys_path,
        "site_packages": site_dirs,
        "stdlib_dirs": _stdlib_dirs(sys_path, site_dirs),
        "distributions": distributions,
        "shadowed": shadowed,
        "problems": problems,
    }


def main() -> None:
    document = json.dumps(snapshot(), ensure_ascii=True, sort_keys=True)
    sys.stdout.write("\n" + BEGIN + "\n" + document + "\n" + END + "\n")
    sys.stdout.flush()
    sys.stderr.flush()
    # The document is out: the interpreter's shutdown (freeing every object the metadata
    # reading made, ~10 ms) is not waited for. Nothing of this process needs it.
    os._exit(0)


if __name__ == "__main__":
    main()
