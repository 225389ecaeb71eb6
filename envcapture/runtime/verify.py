"""A bundle -> `VerifyResult`: does it install offline, and do its modules import? EDGE: virtualenv, pip, subprocesses.

1. every artifact of ``manifest.json`` is checked against its size and sha256;
2. a fresh virtualenv is made with a CPython of the target version (none on this machine:
   a `BuildError` saying verification was skipped, exit 3);
3. ``pip install --no-index --find-links wheelhouse --require-hashes -r requirements.lock.txt``
   runs with the network cut off: in a new network namespace (``unshare -rn``, or
   ``unshare -n`` as root) when the kernel allows it, and always with an offline pip
   configuration (``PIP_CONFIG_FILE=/dev/null``, ``PIP_NO_INDEX=1``, every proxy variable
   pointing at the discard port ``127.0.0.1:9``), so a missing wheel fails instead of
   being fetched;
4. each top-level module listed in ``verify_modules`` is imported in that virtualenv
   (``python -I`` from an empty directory, so nothing local shadows it);
5. the job itself (manifest 1.2 ``verify``): ``local-code.tar.gz`` is unpacked in a work
   directory and, per entry point, a process started there with the job's ``env.vars``,
   the ``PYTHONPATH`` its ``cmd`` sets and the ``sys.path[0]`` Python would give it (the
   script's directory, or the working directory for ``-m``), offline, loads the entry as a
   module without running it: a script with an ``if __name__ == "__main__":`` guard is
   imported under another name; a script without one would start the job, so it is
   never imported: its module-level imports are imported one by one instead (with a
   note). Then every local module the entry reaches is imported by name and every data
   file of their packages is looked for next to the package's ``__init__.py`` as
   imported (from the work directory, or from a wheel built from the project); every
   file the code reads by path (manifest 1.3 ``read_files``) is looked for where the code
   expects it: in the working directory, or next to the module that builds its path from
   ``__file__``, as imported. A failed import behind ``try``/``except`` is a note, not a
   failure.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from envcapture.build.manifest import Check, ManifestTarget, hash_checks, read_manifest
from envcapture.environment.interpreters import find_interpreter, host_matches
from envcapture.errors import BuildError

__all__ = ["Check", "VerifyResult", "offline_install_command", "offline_prefix", "read_manifest", "verify_bundle"]


def __dir__() -> list[str]:
    return __all__


@dataclass(frozen=True, slots=True, kw_only=True)
class VerifyResult:
    bundle: Path
    python: str
    python_version: str
    offline_method: str
    checks: tuple[Check, ...]
    venv: Path | None = None
    notes: tuple[str, ...] = ()

    @property
    def failures(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if not c.ok)

    @property
    def ok(self) -> bool:
        return not self.failures


@functools.lru_cache(maxsize=1)
def offline_prefix() -> tuple[str, ...]:
    """The command prefix that runs a program without network: ``unshare -rn`` (or
    ``unshare -n`` as root) when it works here, else ``()``."""
    unshare = shutil.which("unshare")
    if unshare is None or not sys.platform.startswith("linux"):
        return ()
    candidates = [[unshare, "-rn"]]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        candidates.insert(0, [unshare, "-n"])
    for prefix in candidates:
        try:
            done = subprocess.run([*prefix, "true"], capture_output=True, timeout=20, check=False)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if done.returncode == 0:
            return tuple(prefix)
    return ()


def _offline_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "PYTHON", "VIRTUAL_ENV"))}
    dead = "http://127.0.0.1:9"
    env.update(
        {
            "PIP_CONFIG_FILE": os.devnull,
            "PIP_NO_INDEX": "1",
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
            "PIP_NO_INPUT": "1",
            "PIP_RETRIES": "0",
            "PIP_TIMEOUT": "5",
            "HTTP_PROXY": dead,
            "HTTPS_PROXY": dead,
            "ALL_PROXY": dead,
            "http_proxy": dead,
            "https_proxy": dead,
            "all_proxy": dead,
            "NO_PROXY": "",
            "no_proxy": "",
        }
    )
    return env


def offline_install_command(python: Path, bundle: Path, manifest: Mapping[str, Any]) -> list[str]:
    """The pip command that installs ``bundle`` into the environment of ``python``, offline,
    from its wheelhouse, as its manifest says (hash-checked when the lock has every hash)."""
    install = manifest.get("install") or {}
    cmd = [
        str(python), "-m", "pip", "install", "--no-index", "--no-cache-dir", "--disable-pip-version-check",
        "--progress-bar", "off", "--no-compile", "--find-links", str(bundle / str(install.get("find_links", "wheelhouse"))),
    ]  # fmt: skip
    if install.get("require_hashes"):
        cmd.append("--require-hashes")
    if install.get("no_deps"):
        cmd.append("--no-deps")
    cmd += ["-r", str(bundle / str(install.get("requirements", "requirements.lock.txt")))]
    return cmd


_IMPORT_SCRIPT = """
import importlib, json, sys, traceback
out = []
for name in sys.argv[1:]:
    try:
        importlib.import_module(name)
        out.append([name, True, ""])
    except BaseException as exc:
        line = (str(exc).splitlines() or [""])[0]
        out.append([name, False, type(exc).__name__ + (": " + line if line else "")])
sys.stdout.write("\\n@@envcapture@@" + json.dumps(out))
"""


def _import_checks(python: Path, modules: list[str], cwd: Path, prefix: tuple[str, ...], env: dict[str, str]) -> list[Check]:
    if not modules:
        return []

    def run(names: list[str]) -> list[Check] | None:
        try:
            done = subprocess.run(
                [*prefix, str(python), "-I", "-c", _IMPORT_SCRIPT, *names],
                cwd=cwd,
                env=env,
                capture_output=True,
                text=True,
                timeout=600,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return None
        marker = done.stdout.rfind("@@envcapture@@")
        if marker < 0:
            return None
        rows = json.loads(done.stdout[marker + len("@@envcapture@@") :])
        return [Check(step="import", subject=n, ok=bool(ok), detail=str(d)) for n, ok, d in rows]

    together = run(modules)
    if together is not None:
        return together
    checks = []  # the interpreter died (a crash in an extension): one process per module
    for name in modules:
        one = run([name])
        checks.extend(one or [Check(step="import", subject=name, ok=False, detail="the interpreter crashed or hung")])
    return checks


_LOCAL_SCRIPT = """
import importlib, importlib.util, json, os, sys
plan = json.loads(sys.argv[1])
out = []
def why(exc):
    line = (str(exc).splitlines() or [""])[0]
    return type(exc).__name__ + (": " + line if line else "")
def record(step, subject, ok, detail="", optional=False):
    out.append([step, subject, bool(ok), detail, bool(optional)])
here = os.getcwd()
sys.path[0] = os.path.normpath(os.path.join(here, plan["path0"]))
sys.argv = [plan["target"]]
if plan["kind"] == "script" and plan.get("file") and plan["guarded"]:
    try:
        spec = importlib.util.spec_from_file_location("__envcapture_entry__", os.path.join(here, plan["file"]))
        module = importlib.util.module_from_spec(spec)
        sys.modules["__envcapture_entry__"] = module
        spec.loader.exec_module(module)
        record("entry", plan["target"], True)
    except SystemExit as exc:  # argparse at module level, without the job's arguments
        record("entry", plan["target"], False, "exits while being imported (" + why(exc) + ")", True)
    except BaseException as exc:
        record("entry", plan["target"], False, why(exc))
elif plan["kind"] == "module" and plan["guarded"]:
    try:
        importlib.import_module(plan["target"])
        record("entry", "-m " + plan["target"], True)
    except BaseException as exc:
        record("entry", "-m " + plan["target"], False, why(exc))
else:
    for item in plan.get("imports", []):
        subject = "%s:%d %s" % (plan.get("file") or plan["target"], item["line"], item["module"])
        try:
            found = importlib.import_module(item["module"])
            for name in item["names"]:
                if not hasattr(found, name):
                    importlib.import_module(item["module"] + "." + name)
            record("entry", subject, True)
        except BaseException as exc:
            record("entry", subject, False, why(exc), item.get("optional"))
for item in plan.get("modules", []):
    try:
        importlib.import_module(item["name"])
        record("local", item["name"], True)
    except BaseException as exc:
        record("local", "%s (%s)" % (item["name"], item["file"]), False, why(exc), not item["required"])
for item in plan.get("data_files", []):
    subject = item["package"].replace(".", "/") + "/" + item["path"]
    try:
        package = sys.modules.get(item["package"]) or importlib.import_module(item["package"])
        base = os.path.dirname(package.__file__ or "")
        where = os.path.join(base, *item["path"].split("/"))
        shown = os.path.relpath(base, here) if base.startswith(here) else base
        record("data", subject, os.path.isfile(where), "" if os.path.isfile(where) else "not found next to %s (imported from %s)" % (item["package"], shown))
    except BaseException as exc:
        record("data", subject, False, "package not importable: " + why(exc))
for item in plan.get("read_files", []):
    where = os.path.join(here, *item["path"].split("/"))
    if item.get("module"):
        try:
            module = sys.modules.get(item["module"]) or importlib.import_module(item["module"])
            where = os.path.join(os.path.dirname(module.__file__ or ""), *item["relative"].split("/"))
        except BaseException as exc:  # the local check reports the module itself
            record("file", item["path"], False, "module %s not importable: %s" % (item["module"], why(exc)), True)
            continue
    found = os.path.isdir(where) if item["kind"] == "directory" else os.path.isfile(where)
    shown = os.path.relpath(where, here) if where.startswith(here) else where
    record("file", item["path"], found, "" if found else "not found at %s, where the code expects it (%s)" % (shown, item["by"]))
sys.stdout.write("\\n@@envcapture@@" + json.dumps(out))
sys.stdout.flush()
os._exit(0)
"""


def _unpack(archive: Path, dest: Path) -> None:
    """The regular files of a (hash-checked) archive under ``dest``; nothing leaves it."""
    with tarfile.open(archive, "r:gz") as tar:
        for member in tar:
            pure = PurePosixPath(member.name)
            if not member.isfile() or pure.is_absolute() or ".." in pure.parts:
                continue
            target = dest.joinpath(*pure.parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            source = tar.extractfile(member)
            if source is not None:
                with source, open(target, "wb") as handle:
                    shutil.copyfileobj(source, handle)


def _job_checks(
    python: Path, manifest: Mapping[str, Any], bundle: Path, work: Path, prefix: tuple[str, ...], env: dict[str, str]
) -> tuple[list[Check], list[str]]:
    """The job's entry points, local modules and data files, from its working directory."""
    plan = manifest.get("verify")
    if not isinstance(plan, dict):
        return [], []
    local = (manifest.get("local_code") or {}).get("path")
    if local and (bundle / str(local)).is_file():
        _unpack(bundle / str(local), work)
    job = manifest.get("job") or {}
    job_env = {str(v["name"]): str(v["value"]) for v in job.get("env") or [] if v.get("value") is not None}
    checks: list[Check] = []
    notes: list[str] = []
    for entry in plan.get("entries") or []:
        label = entry.get("target", "?") if entry.get("kind") == "script" else f"-m {entry.get('target', '?')}"
        if not entry.get("guarded"):
            notes.append(
                f'{label}: no `if __name__ == "__main__":` guard, so it is not imported (that would start the job); '
                "its module-level imports are checked one by one"
            )
        run_env = {**env, **job_env, "PYTHONNOUSERSITE": "1", "PYTHONDONTWRITEBYTECODE": "1"}
        pythonpath = [str(work / p) if not os.path.isabs(p) else p for p in entry.get("pythonpath") or []]
        if pythonpath:
            run_env["PYTHONPATH"] = os.pathsep.join(pythonpath)
        try:
            done = subprocess.run(
                [*prefix, str(python), "-c", _LOCAL_SCRIPT, json.dumps(entry)],
                cwd=work, env=run_env, capture_output=True, text=True, timeout=600, check=False,
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            checks.append(Check(step="entry", subject=label, ok=False, detail="timed out after 600 s while importing"))
            continue
        marker = done.stdout.rfind("@@envcapture@@")
        if marker < 0:
            tail = (done.stderr.strip().splitlines() or ["the interpreter exited"])[-1]
            checks.append(Check(step="entry", subject=label, ok=False, detail=f"the check stopped: {tail}"[:600]))
            continue
        for step, subject, ok, detail, optional in json.loads(done.stdout[marker + len("@@envcapture@@") :]):
            if not ok and optional:
                notes.append(f"{step} {subject}: {detail} (the import is optional: not a failure)")
                checks.append(Check(step=str(step), subject=str(subject), ok=True, detail=f"optional; {detail}"))
            else:
                checks.append(Check(step=str(step), subject=str(subject), ok=bool(ok), detail=str(detail)))
    return checks, notes


def verify_bundle(bundle: str | Path, *, python: str | None = None, venv: Path | None = None) -> VerifyResult:
    """Install ``bundle`` offline into a fresh virtualenv and import its modules.

    :param python: the interpreter to verify with (default: a CPython of the target
        version found on this machine).
    :param venv: where to create the virtualenv and keep it (default: a temporary one).
    :raises InputError: not a bundle.
    :raises BuildError: no interpreter of the target version here (verification skipped),
        or the virtualenv cannot be created.
    """
    root = Path(bundle).absolute()
    manifest = read_manifest(root)
    target = ManifestTarget.from_json(manifest)
    major, minor = target.python_minor
    checks = hash_checks(root, manifest)
    if isinstance(manifest.get("job"), dict) and manifest["job"].get("plain"):
        # A plain job (manifest 1.1) installs nothing: its hashes are all there is to verify.
        return VerifyResult(bundle=root, python="", python_version="", offline_method="", checks=tuple(checks))
    if not host_matches(target.sys_platform, target.platform_machine):
        raise BuildError(
            f"verify {root.name}: this machine is not {target.sys_platform} {target.platform_machine}; "
            "verification skipped (run envcapture verify on Linux x86_64)"
        )
    interpreter = python or find_interpreter(target.python_version)
    if interpreter is None:
        raise BuildError(
            f"verify {root.name}: no CPython {major}.{minor} on this machine; verification skipped",
            hint=f"install Python {major}.{minor} (pyenv install {major}.{minor}) or pass --python PATH",
        )
    version = subprocess.run(
        [interpreter, "-I", "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    ).stdout.strip()
    if ".".join(version.split(".")[:2]) != f"{major}.{minor}":
        raise BuildError(f"verify {root.name}: {interpreter} is Python {version or '?'}, the target is {major}.{minor}")
    prefix = offline_prefix()
    method = " ".join(Path(prefix[0]).name if i == 0 else p for i, p in enumerate(prefix)) if prefix else ""
    if method:
        method = f"network cut off by {method} (an empty network namespace), PIP_NO_INDEX=1, proxies at 127.0.0.1:9"
    else:
        method = "no network namespace available here: only PIP_NO_INDEX=1 and proxies at 127.0.0.1:9"
    env = _offline_env()
    with tempfile.TemporaryDirectory(prefix="envcapture-verify-") as tmp:
        env_dir = venv or Path(tmp, "venv")
        made = subprocess.run(
            [
                sys.executable,
                "-m",
                "virtualenv",
                "--quiet",
                "--no-periodic-update",
                "--no-download",
                "--no-setuptools",
                "--python",
                interpreter,
                str(env_dir),
            ],
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
        if made.returncode != 0:
            tail = (made.stderr.strip().splitlines() or ["?"])[-1]
            raise BuildError(f"verify {root.name}: step virtualenv for CPython {major}.{minor}: {tail}")
        vpython = env_dir / "bin" / "python"
        cmd = [*prefix, *offline_install_command(vpython, root, manifest)]
        done = subprocess.run(cmd, env=env, cwd=tmp, capture_output=True, text=True, check=False, timeout=1800)
        if done.returncode == 0:
            checks.append(Check(step="install", subject="requirements.lock.txt", ok=True))
        else:
            errors = [ln.strip() for ln in done.stderr.splitlines() if ln.strip().startswith("ERROR")]
            detail = " ".join(errors or done.stderr.strip().splitlines()[-2:])[:600]
            checks.append(Check(step="install", subject="requirements.lock.txt", ok=False, detail=detail))
        empty = Path(tmp, "empty")
        empty.mkdir()
        modules = [str(m) for m in manifest.get("verify_modules", [])]
        notes: list[str] = []
        if done.returncode == 0:
            checks.extend(_import_checks(vpython, modules, empty, prefix, env))
            work = Path(tmp, "work")
            work.mkdir()
            job_checks, notes = _job_checks(vpython, manifest, root, work, prefix, env)
            checks.extend(job_checks)
        else:
            checks.extend(Check(step="import", subject=m, ok=False, detail="not tried: the install failed") for m in modules)
    return VerifyResult(
        bundle=root,
        python=interpreter,
        python_version=version,
        offline_method=method,
        checks=tuple(checks),
        venv=venv,
        notes=tuple(notes),
    )
