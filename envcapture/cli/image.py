"""The command line: `envcapture image`."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from envcapture.cli import (
    EXIT_FINDINGS,
    _console,
    _err_console,
    _guarded,
    _ui,
    _ui_options,
)


@click.command("image")
@click.argument("bundle", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option(
    "-o",
    "--output",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="The image directory to write: OCI layout, image.tar (docker load), Dockerfile, image.json.",
)
@click.option(
    "-c",
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="The job's config.yaml: its name (the tag) and env.docker (the base); env.vars and graceful-shutdown for bundles built before manifest 1.1 (default: ./config.yaml when its cmd is the bundle's).",
)
@click.option(
    "--base",
    metavar="NAME[@DIGEST]",
    help="The base image (default: the config's env.docker image, else python:<target X.Y>-slim). Never pulled.",
)
@click.option(
    "--base-rootfs",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="A root filesystem tarball (tar or tar.gz): the base's layer, prepended.",
)
@click.option("--base-oci", metavar="DIR[:REF]", help="An OCI image layout holding the base image: its layers are prepended.")
@click.option(
    "--base-python",
    default="/usr/local/bin/python3",
    show_default=True,
    help="The base image's interpreter: the virtualenv's bin/python links to it.",
)
@click.option(
    "--workdir", default="/job", show_default=True, help="Where the local code goes: the container's working directory."
)
@click.option(
    "--tag", "repo_tag", metavar="REPO:TAG", help="The name docker load gives the image (default: envcapture/<job name>:latest)."
)
@click.option(
    "--heavy-layer-mb",
    type=click.FloatRange(min=0),
    default=50.0,
    show_default=True,
    help="A distribution installed larger than this many MB gets a layer of its own.",
)
@click.option("--load", "load_it", is_flag=True, help="docker load image.tar into the daemon (Docker SDK; DOCKER_HOST).")
@click.option(
    "--run",
    "run_it",
    is_flag=True,
    help="Load, then run the job's cmd in a container with no network; exit 1 when the job fails.",
)
@click.option(
    "--push",
    "push_ref",
    metavar="REGISTRY/REPO:TAG",
    help="Push the image (OCI distribution API; credentials from the Docker config's auths).",
)
@click.option("--insecure-registry", is_flag=True, help="Push over plain HTTP (a registry on a loopback address always is).")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print image.json (schema envcapture/image), with the load, run and push results, as JSON.",
)
@_ui_options
@_guarded
def image_cmd(
    bundle: Path,
    out_dir: Path,
    config_file: Path | None,
    base: str | None,
    base_rootfs: Path | None,
    base_oci: str | None,
    base_python: str,
    workdir: str,
    repo_tag: str | None,
    heavy_layer_mb: float,
    load_it: bool,
    run_it: bool,
    push_ref: str | None,
    insecure_registry: bool,
    as_json: bool,
) -> None:
    """Build the OCI image of BUNDLE in OUTPUT, deterministically and without a daemon."""

    from envcapture.build.manifest import read_manifest
    from envcapture.config.loader import load_config
    from envcapture.errors import InputError
    from envcapture.image.oci import (
        ImageOptions,
        build_image,
        config_env,
        default_repo_tag,
    )

    err = _err_console()
    manifest = read_manifest(bundle)
    explicit = config_file is not None
    if config_file is None and Path("config.yaml").is_file():
        config_file = Path("config.yaml")
    config = load_config(config_file) if config_file is not None else None
    if config is not None and " ".join(config.cmd.split()) != " ".join(str(manifest.get("cmd") or "").split()):
        if explicit:
            raise InputError(f"{config_file}: its cmd differs from the bundle's; rebuild the bundle from this config")
        _ui().note(f"note: ignored {config_file}: its cmd is not the bundle's")
        config = None
    env: tuple[tuple[str, str], ...] = ()
    stop_signal = docker_image = None
    if config is not None:
        if not isinstance(manifest.get("job"), dict):  # a 1.0 manifest: the variables come from the config
            env, missing = config_env(config, os.environ)
            for name in missing:
                _ui().note(f"note: env.vars {name} is not set here; left out of the image")
            stop_signal = config.graceful_shutdown.signal if config.graceful_shutdown else None
        if config.env.docker is not None:
            docker_image = config.env.docker.image or config.env.docker.id
    options = ImageOptions(
        base=base,
        base_rootfs=base_rootfs,
        base_oci=base_oci,
        base_python=base_python,
        workdir=workdir,
        repo_tag=repo_tag or default_repo_tag(config.name if config is not None else None),
        env=env,
        stop_signal=stop_signal,
        heavy_layer_bytes=int(heavy_layer_mb * 1_000_000),
    )
    if (load_it or run_it or push_ref) and base_rootfs is None and base_oci is None:
        raise InputError(
            "--load, --run and --push need the base's layers in the image: give --base-oci or --base-rootfs "
            f"(a base known only by name is never pulled), or build {out_dir / 'Dockerfile'} with an engine"
        )
    with _ui().activity(not as_json) as activity:
        activity.phase(f"building the image of {bundle.name}")
        result = build_image(bundle, out_dir, options=options, docker_image=docker_image)
    doc = result.to_json()
    out = _console(highlight=False, soft_wrap=True, emoji=False, markup=False)
    if not as_json:
        out.print(f"image {out_dir}: {result.digest} {result.repo_tag}", markup=False)
        for layer in result.layers:
            out.print(f"  {layer.name:<24} {layer.digest[:19]}  {layer.size:>12,} bytes", markup=False)
        for note in result.notes:
            _ui().note(f"note: {note}")
    status = 0
    if load_it or run_it:
        from envcapture.image.engine import docker_client, load_image, run_image

        client = docker_client()
        image_id = load_image(client, result.path)
        doc["load"] = {"image_id": image_id, "repo_tag": result.repo_tag}
        if not as_json:
            out.print(f"loaded {result.repo_tag} ({image_id})", markup=False)
        if run_it:
            ran = run_image(client, image_id)
            doc["run"] = {"network": "none", "status": ran.status, "output": ran.output}
            status = ran.status
            if not as_json:
                click.echo(ran.output, nl=False)
                err.print(f"envcapture: the job exited with status {ran.status} (network: none)", markup=False)
    if push_ref:
        from envcapture.image.registry import push_image

        pushed = push_image(result.path, push_ref, insecure=insecure_registry)
        doc["push"] = {
            "reference": str(pushed.reference),
            "digest": pushed.digest,
            "pull": pushed.reference.with_digest(pushed.digest),
            "uploaded": pushed.uploaded,
            "existing": pushed.existing,
            "bytes_uploaded": pushed.bytes_uploaded,
        }
        if not as_json:
            out.print(
                f"pushed {pushed.reference.with_digest(pushed.digest)} ({pushed.uploaded} blobs uploaded, "
                f"{pushed.existing} already there)",
                markup=False,
            )
    if as_json:
        click.echo(json.dumps(doc, indent=2, ensure_ascii=False))
    if status != 0:
        click.get_current_context().exit(EXIT_FINDINGS)
