"""The command line: `envcapture check` (the pre-commit hook)."""

from __future__ import annotations

from pathlib import Path

import click

from envcapture.cli import (
    EXIT_FINDINGS,
    _accelerator_option,
    _console,
    _entry_words,
    _guarded,
    _module_option,
    _python_request,
    _ui,
    _ui_options,
    _warn_cache,
    _with_options,
)


@click.command("check")
@click.argument("entries", nargs=-1)
@_module_option
@click.option(
    "-c",
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The job's config.yaml: entry points from cmd and root-paths, and env.python.requirements-file.",
)
@click.option(
    "-r",
    "--requirements",
    "requirements",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="A requirements file (pip syntax, -r includes followed); repeatable.",
)
@click.option(
    "--pyproject", is_flag=True, help="Check [project.dependencies] and [project.optional-dependencies] of pyproject.toml."
)
@click.option(
    "--python",
    "python",
    help="Interpreter whose environment is analysed (default: [tool.envcapture] python, the active virtualenv, "
    "a .venv/ in the project, else bare mode with guessed names).",
)
@click.option("--target-python", help="Target Python version (default: the config's version, else the analysed interpreter's).")
@_accelerator_option
@click.option(
    "--project",
    type=click.Path(file_okay=False, path_type=Path),
    help="The project directory (default: the config's directory, else the current one).",
)
@click.option(
    "--require-pins", is_flag=True, help="Report requirements without == (EC005), as [tool.envcapture] require-pins = true does."
)
@click.option(
    "--check-index",
    is_flag=True,
    help="Ask the configured index whether every pin installs on the target (EC006; needs the network).",
)
@click.option("--fix", is_flag=True, help="Rewrite the requirements file: add what is missing (pinned), remove what is unused.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["human", "json", "github"]),
    default="human",
    show_default=True,
    help="Output: grouped text, a JSON document (envcapture/check 1.0), or GitHub workflow annotations.",
)
@click.option("--no-cache", is_flag=True, help="Parse every file again; do not read or write the analysis cache.")
@_with_options
@_ui_options
@_guarded
def check_cmd(
    entries: tuple[str, ...],
    modules: tuple[str, ...],
    config_file: Path | None,
    requirements: tuple[Path, ...],
    pyproject: bool,
    python: str | None,
    target_python: str | None,
    accelerator: str | None,
    project: Path | None,
    require_pins: bool,
    check_index: bool,
    fix: bool,
    fmt: str,
    no_cache: bool,
    with_requirements: tuple[str, ...],
    installed_extras: bool | None,
) -> None:
    """Check that the declared requirements match what the code imports (exit 1 on problems).

    ENTRIES are scripts (and -m MODULE modules); default: the config's cmd, else
    [tool.envcapture] entry-points of pyproject.toml. Rules: EC001 missing, EC002 unused,
    EC003 wrong-name, EC004 transitive, EC005 unpinned, EC006 not-installable.
    """
    from envcapture.check.job import CheckOptions, run_check
    from envcapture.check.report import render_github, render_human, render_json
    from envcapture.errors import InputError

    if requirements and pyproject:
        raise InputError("--requirements and --pyproject cannot be used together")
    ui = _ui()
    paths = tuple(e if e.startswith("-m ") else str(Path(e).resolve()) for e in _entry_words(entries, modules))
    python = _python_request(python)
    options = CheckOptions(
        entry_points=paths,
        config=config_file,
        project=project,
        requirements=requirements,
        pyproject=pyproject,
        python=python,
        target_python=target_python,
        accelerator=accelerator,
        require_pins=require_pins,
        check_index=check_index,
        fix=fix,
        use_cache=not no_cache,
        with_requirements=with_requirements,
        installed_extras=installed_extras,
    )
    with ui.activity(fmt == "human") as activity:
        activity.phase("analysing imports")
        result = run_check(options)
    _warn_cache(result.cache_write_error, no_cache_option=True)
    if fmt != "json":
        for note in result.notes:
            ui.note(f"note: {note}")
    if result.written:
        ui.note(f"fixed {len(result.fixed)} problem(s) in {', '.join(result.written)}")
    if fmt == "json":
        click.echo(
            render_json(
                result.findings,
                entry_points=result.entry_points,
                declared_files=result.declared.files,
                fixed=result.fixed,
                environment=result.environment,
            ),
            nl=False,
        )
    elif fmt == "github":
        click.echo(render_github(result.findings), nl=False)
    else:
        from envcapture.resolution.summary import target_line

        out = _console(highlight=False, soft_wrap=True, emoji=False, markup=False)
        if result.target is not None:
            out.print(target_line(result.target), markup=False)
        out.print(render_human(result.findings, fixed=result.fixed, environment=result.environment))
    if result.findings:
        click.get_current_context().exit(EXIT_FINDINGS)
