"""The launchers ``cmd`` may wrap Python in (torchrun, deepspeed, accelerate launch, mpirun,
conda run, profilers, ...): how many values each option takes, where the script or module
starts, and which distribution provides the launcher. Data for `entrypoints`, kept apart so
the command reader stays readable.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal


@dataclass(frozen=True, slots=True)
class _Spec:
    """How one launcher or wrapper reads its options, and what follows them."""

    runs: Literal["command", "script", "auto"]  # auto: a script when it ends in .py (uv run)
    values: Mapping[str, int] = field(default_factory=dict)  # option -> number of values
    flags: frozenset[str] = frozenset()
    module: frozenset[str] = frozenset()  # flags that make the target a module name
    no_python: frozenset[str] = frozenset()  # flags that make the target a program
    chdir: frozenset[str] = frozenset()  # options whose value is the new working directory
    stop: frozenset[str] = frozenset()  # options after which nothing runs (--help)
    positionals: int = 0  # words before the command: timeout's duration, taskset's mask
    launcher: str | None = None  # recorded on the entry points it starts


def _spec(
    runs: Literal["command", "script", "auto"],
    values: str = "",
    flags: str = "",
    *,
    module: str = "",
    no_python: str = "",
    chdir: str = "",
    stop: str = "--help",
    positionals: int = 0,
    launcher: str | None = None,
) -> _Spec:
    """A table row from space-separated option lists; ``--mca:2`` takes two values."""
    arity = {name: int(n or 1) for name, _, n in (v.partition(":") for v in values.split())}
    return _Spec(
        runs,
        arity,
        frozenset(flags.split()),
        frozenset(module.split()),
        frozenset(no_python.split()),
        frozenset(chdir.split()),
        frozenset(stop.split()),
        positionals,
        launcher,
    )


_TORCHRUN = _spec(
    "script",
    "--nnodes --nproc-per-node --rdzv-backend --rdzv-endpoint --rdzv-id --rdzv-conf "
    "--max-restarts --monitor-interval --start-method --role --log-dir -r --redirects -t --tee "
    "--local-ranks-filter --node-rank --master-addr --master-port --local-addr --logs-specs "
    "--local-rank",
    "--standalone --run-path --use-env",
    module="-m --module",
    no_python="--no-python",
    stop="-h --help",
    launcher="torchrun",
)
_DEEPSPEED = _spec(
    "script",
    "-H --hostfile -i --include -e --exclude --num-nodes --min-elastic-nodes "
    "--max-elastic-nodes --num-gpus --num-accelerators --master-port --master-addr --node-rank "
    "--launcher --launcher-args --enable-each-rank-log --autotuning --bind-core-list --ssh-port "
    "--comment --venv-script",
    "--no-local-rank --no-ssh-check --force-multi --save-pid --elastic-training --bind-cores-to-rank --no-ssh",
    module="--module",
    no_python="--no-python",
    stop="-h --help",
    launcher="deepspeed",
)
_ACCELERATE = _spec(
    "script",
    "--config-file --num-processes --num-machines --machine-rank --main-process-ip "
    "--main-process-port --mixed-precision --gpu-ids --dynamo-backend --dynamo-mode "
    "--num-cpu-threads-per-process --deepspeed-config-file --zero-stage --offload-optimizer-device "
    "--offload-param-device --gradient-accumulation-steps --gradient-clipping --deepspeed-hostfile "
    "--deepspeed-multinode-launcher --fsdp-sharding-strategy --fsdp-auto-wrap-policy "
    "--fsdp-transformer-layer-cls-to-wrap --fsdp-state-dict-type --fsdp-backward-prefetch "
    "--fsdp-offload-params --rdzv-backend --rdzv-conf --max-restarts --monitor-interval "
    "--main-training-function --log-dir --role --tee --redirects",
    "--multi-gpu --cpu --debug --same-network --use-deepspeed --use-fsdp --use-megatron-lm --tpu "
    "-q --quiet --enable-cpu-affinity --dynamo-use-fullgraph --dynamo-use-dynamic --downcast-bf16",
    module="-m --module",
    no_python="--no-python",
    stop="-h --help",
    launcher="accelerate launch",
)
_MPIRUN = _spec(
    "command",
    "-np -n -c -N -H --host -host --hostfile -hostfile --machinefile -machinefile -f -ppn -x "
    "--map-by -map-by --bind-to -bind-to --rank-by --npernode -npernode --prefix -wdir --wdir "
    "--mca:2 -mca:2 --gmca:2 -gmca:2 -env:2 -genv:2",
    "--allow-run-as-root --oversubscribe --report-bindings -v --verbose --tag-output --timestamp-output -q --quiet",
    chdir="-wdir --wdir",
    launcher="mpirun",
)
_CONDA_RUN = _spec(
    "command", "-n --name -p --prefix --cwd", "--no-capture-output --live-stream -v --debug-wrapper-scripts", chdir="--cwd"
)
_PROFILER = _spec("script", "-o --outfile -s --sort", module="-m")

_COMMANDS: Mapping[str, _Spec] = {
    "torchrun": _TORCHRUN,
    "deepspeed": _DEEPSPEED,
    "accelerate launch": _ACCELERATE,
    "accelerate-launch": _ACCELERATE,
    "uv run": _spec(
        "auto",
        "--with --with-editable --with-requirements -p --python --project --directory --package "
        "--extra --group --only-group --no-group --env-file --index --default-index --index-url "
        "--extra-index-url -f --find-links --config-file --cache-dir --prerelease --resolution "
        "--index-strategy --exclude-newer --color -C --config-setting -P --upgrade-package "
        "--reinstall-package --refresh-package",
        "--frozen --locked --no-sync --isolated --no-project --all-extras --no-dev --dev --exact "
        "--active --no-active -q --quiet -v --verbose --offline --no-cache -n -U --upgrade "
        "--refresh --reinstall --no-build --no-binary -s --script --gui-script --no-editable "
        "--no-env-file "
        "--all-packages --compile-bytecode",
        module="-m --module",
        chdir="--directory",
        launcher="uv run",
    ),
    "horovodrun": _spec(
        "command",
        "-np --num-proc -p --ssh-port -i --ssh-identity-file -H --hosts --hostfile "
        "--host-discovery-script --start-timeout --network-interface --output-filename --min-np "
        "--max-np --mpi-args --gloo-timeout-seconds --log-level --config-file",
        "--gloo --mpi --jsrun --verbose --disable-cache --tcp",
        launcher="horovodrun",
    ),
    "mpirun": _MPIRUN,
    "mpiexec": _MPIRUN,
    "srun": _spec(
        "command",
        "-n --ntasks -N --nodes -c --cpus-per-task -p --partition -t --time -J --job-name "
        "-o --output -e --error -G --gpus --gres --gpus-per-node --gpus-per-task -A --account "
        "--qos -w --nodelist --export --mpi --mem --ntasks-per-node --cpu-bind -D --chdir "
        "-x --exclude -C --constraint",
        "-l --label -u --unbuffered --exclusive --pty -K --kill-on-bad-exit -Q --quiet -v",
        chdir="-D --chdir",
        launcher="srun",
    ),
    "conda run": _CONDA_RUN,
    "mamba run": _CONDA_RUN,
    "micromamba run": _CONDA_RUN,
    "poetry run": _spec(
        "command",
        "-C --directory -P --project",
        "-q --quiet -v -n --no-interaction --no-ansi --ansi --no-plugins --no-cache",
        chdir="-C --directory",
    ),
    "pipenv run": _spec("command"),
    "nohup": _spec("command"),
    "unbuffer": _spec("command"),
    "setsid": _spec("command", "", "-c --ctty -f --fork -w --wait"),
    "time": _spec("command", "-f --format -o --output", "-p -a --append -v --verbose -q --quiet"),
    "nice": _spec("command", "-n --adjustment"),
    "exec": _spec("command", "-a", "-c -l"),
    "timeout": _spec("command", "-s --signal -k --kill-after", "--preserve-status --foreground -v --verbose", positionals=1),
    "stdbuf": _spec("command", "-i -o -e --input --output --error"),
    "env": _spec(
        "command", "-u --unset -C --chdir -S --split-string", "-i --ignore-environment -0 --null -v --debug", chdir="-C --chdir"
    ),
    "sudo": _spec(
        "command",
        "-u --user -g --group -p --prompt -C -D --chdir -h --host -r -t -U -T",
        "-E -H -n -S -b -k -P -i -s --preserve-env",
        chdir="-D --chdir",
    ),
    "command": _spec("command", "", "-p", stop="-v -V"),
    "taskset": _spec("command", "", "-c --cpu-list -a --all-tasks", stop="-p --pid", positionals=1),
    "numactl": _spec(
        "command", "-N --cpunodebind -m --membind -C --physcpubind -i --interleave -p --preferred", "-l --localalloc"
    ),
    "ionice": _spec("command", "-c --class -n --classdata", "-t --ignore", stop="-p --pid"),
    "xvfb-run": _spec(
        "command",
        "-n --server-num -s --server-args -e --error-file -f --auth-file -p --xauth-protocol -w --wait",
        "-a --auto-servernum",
    ),
}
# `python -m X ...` where X is itself a launcher of a script.
_MODULE_LAUNCHERS: Mapping[str, _Spec] = {
    "torch.distributed.run": _TORCHRUN,
    "torch.distributed.launch": _TORCHRUN,
    "accelerate.commands.launch": _ACCELERATE,
    "deepspeed.launcher.runner": _DEEPSPEED,
    "cProfile": _PROFILER,
    "profile": _PROFILER,
    "pdb": _spec("script", "-c --command", module="-m"),
}

LAUNCHER_DISTRIBUTIONS: Mapping[str, str] = {
    "torchrun": "torch",
    "python -m torch.distributed.run": "torch",
    "python -m torch.distributed.launch": "torch",
    "deepspeed": "deepspeed",
    "python -m deepspeed.launcher.runner": "deepspeed",
    "accelerate launch": "accelerate",
    "python -m accelerate.commands.launch": "accelerate",
    "horovodrun": "horovod",
}
"""The distribution that must be installed on the target for an `EntryPoint.launcher`."""
