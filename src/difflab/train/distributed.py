"""Data-parallel training over processes: torch.distributed, launched by ``torchrun``.

Distributed data parallelism (Li et al. 2020, "PyTorch Distributed: Experiences on
Accelerating Data Parallel Training", VLDB) keeps one replica of the network per
process; each process computes gradients on its shard of the global batch and the
gradients are averaged by all-reduce before every optimizer step, so all replicas
stay identical. ``torchrun --nproc_per_node N ...`` starts the N processes and
sets ``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``, ``MASTER_ADDR`` and ``MASTER_PORT``;
:func:`init_distributed` reads them. The backend is NCCL on CUDA and gloo on
the CPU.

Nothing here runs unless ``WORLD_SIZE`` > 1 (or the caller initialised a process
group itself): a plain ``python`` or ``difflab`` run is one process, rank 0.
"""

from __future__ import annotations

import atexit
import os
import sys
from typing import NamedTuple

import torch
import torch.distributed as dist

__all__ = ["World", "init_distributed", "world", "all_gather_tensor", "leaving_after_failure"]


class World(NamedTuple):
    """Where this process sits: ``rank`` of ``size`` processes, and its device."""

    rank: int
    size: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that writes checkpoints, logs and pictures."""
        return self.rank == 0


def world() -> World:
    """This process's place in an initialised process group (rank 0 of 1 without one).

    The device is ``cuda:LOCAL_RANK`` when CUDA is available and the CPU otherwise.
    """
    if dist.is_available() and dist.is_initialized():
        rank, size = dist.get_rank(), dist.get_world_size()
    else:
        rank, size = 0, 1
    if torch.cuda.is_available():
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)) % torch.cuda.device_count())
    else:
        device = torch.device("cpu")
    return World(rank, size, device)


def init_distributed(backend: str | None = None) -> World:
    """Join the process group that ``torchrun`` describes in the environment.

    Does nothing when ``WORLD_SIZE`` is unset or 1, or when a group exists already.
    ``backend`` defaults to ``"nccl"`` with CUDA and ``"gloo"`` without.
    """
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size > 1 and not dist.is_initialized():
        if not dist.is_available():
            raise RuntimeError(f"WORLD_SIZE={size} asks for distributed training, but this torch build has no torch.distributed")
        missing = [k for k in ("RANK", "MASTER_ADDR", "MASTER_PORT") if k not in os.environ]
        if missing:
            raise RuntimeError(f"WORLD_SIZE={size} is set but {', '.join(missing)} is not: launch with torchrun")
        cuda = torch.cuda.is_available()
        if cuda:
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)) % torch.cuda.device_count())
        dist.init_process_group(backend or ("nccl" if cuda else "gloo"))
        # the group this call made is torn down before the interpreter's own teardown: left to
        # it, gloo's threads can be destroyed while joinable and the rank aborts at exit (SIGABRT,
        # "terminate called without an active exception") after a run that succeeded
        atexit.register(_destroy_group)
        previous = sys.excepthook

        def failed(*exc_info):  # an uncaught exception: no barrier at exit (a peer may sit in a collective)
            leaving_after_failure()
            previous(*exc_info)

        sys.excepthook = failed
    return world()


_exit_state = {"failed": False}


def leaving_after_failure() -> None:
    """Say that this process is about to exit after a failure, so that it skips the exit barrier.

    On a clean exit every rank waits at a barrier before tearing its process group down;
    a rank that leaves after a failure must not, since a peer may be waiting in a collective
    that this rank will never join. An uncaught exception is recognised by itself; a caller
    that turns a failure into an exit status (the CLI's one-line errors) calls this first.
    """
    _exit_state["failed"] = True


def _destroy_group() -> None:
    if dist.is_available() and dist.is_initialized():
        if not _exit_state["failed"]:
            try:  # on a clean exit every rank waits for the others (rank 0 may still be saving) before any tears down
                dist.barrier()
            except RuntimeError:
                pass
        dist.destroy_process_group()


def all_gather_tensor(x: torch.Tensor, w: World) -> list[torch.Tensor]:
    """Every rank's ``x`` (same shape and dtype on every rank), on the CPU, in rank order."""
    if w.size == 1:
        return [x.cpu()]
    comm_device = w.device if dist.get_backend() == "nccl" else torch.device("cpu")
    x = x.to(comm_device)
    out = [torch.empty_like(x) for _ in range(w.size)]
    dist.all_gather(out, x)
    return [o.cpu() for o in out]
