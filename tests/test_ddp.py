"""Two-process DistributedDataParallel training on CPU (gloo), as torchrun would run it."""

import os
import socket
import subprocess
import sys

import torch
import torch.multiprocessing as mp
from safetensors.torch import load_file, save_file

from app.checkpoints import load_checkpoint
from app.training.train import (
    open_run,
    start_runtime,
    stop_runtime,
    train_codec,
    train_denoiser,
)
from tests.test_training import CPU, write_dataset

torch.set_num_threads(1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, run_dir: str, port: int) -> None:
    """One rank: the teacher for a few steps, then distillation; saves its own weights."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      LOCAL_RANK=str(rank), WORLD_SIZE="2")
    torch.set_num_threads(1)
    from app.training.distill import distill

    runtime = start_runtime("cpu")
    try:
        run = open_run(run_dir, runtime=runtime)
        teacher = train_denoiser(run, runtime, "teacher", steps=6)
        student = distill(run, runtime, steps=3)
        save_file({f"teacher.{k}": v.contiguous() for k, v in teacher.state_dict().items()}
                  | {f"student.{k}": v.contiguous() for k, v in student.state_dict().items()},
                  os.path.join(run_dir, f"rank{rank}.safetensors"))
    finally:
        stop_runtime()


def test_two_gloo_ranks_train_identical_weights(tmp_path):
    data = write_dataset(tmp_path / "data")
    run = open_run(tmp_path / "run", data, "tiny")
    train_codec(run, CPU)
    mp.spawn(_worker, args=(str(run.dir), free_port()), nprocs=2, join=True)
    rank0 = load_file(run.dir / "rank0.safetensors")
    rank1 = load_file(run.dir / "rank1.safetensors")
    assert rank0.keys() == rank1.keys()
    for name in rank0:
        assert torch.equal(rank0[name], rank1[name]), name
    state, _ = load_checkpoint(run.path("teacher"))
    assert state["step"] == 6 and len(state["generators"]) == 2
    assert not torch.equal(state["generators"][0], state["generators"][1])
    teacher_keys = [k for k in rank0 if k.startswith("teacher.")]
    assert torch.equal(state["model"][teacher_keys[0][8:]], rank0[teacher_keys[0]])
    # ranks saw different windows: the first step's losses differ between them
    assert load_checkpoint(run.path("distill"))[0]["done"]


def test_torchrun_runs_the_cli(tmp_path):
    data = write_dataset(tmp_path / "data")
    run = open_run(tmp_path / "run", data, "tiny")
    train_codec(run, CPU)
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2",
               "--master-port", str(free_port()), "-m", "app.training.train_cli", "train",
               "--run-dir", str(run.dir), "--stage", "offline", "--steps", "4", "--threads", "1"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    state, config = load_checkpoint(run.path("offline"))
    assert state["done"] and state["step"] == 4 and not config.causal
    assert len(state["generators"]) == 2
