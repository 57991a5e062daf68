"""Multi-process training under ``torchrun`` (DistributedDataParallel), the way metric-learning libraries do it.

``torchrun --nproc-per-node N -m siamese_trainer.cli ...`` (or the ``siamese-train`` script via
``torchrun --nproc-per-node N $(which siamese-train) ...``) runs the same command in N processes. Then:

- every rank draws the same global P x K batch (same seed) and loads only its contiguous block of P / N
  classes, so the concatenation of the local batches is exactly the single-process batch;
- embeddings (and labels) are all-gathered so mining and the loss see the whole global batch; the gather
  keeps the gradient of the local part, and the loss is scaled by N so that DDP's gradient averaging gives
  the single-process gradient;
- augmentation draws its random parameters for the global batch and applies the local slice;
- only rank 0 validates, logs and writes checkpoints; all ranks load the checkpoint on ``--resume``.

BatchNorm statistics are per rank on CPU (PyTorch's SyncBatchNorm needs a GPU); on CUDA BatchNorm layers
are converted to SyncBatchNorm. ``--norm group`` has no batch statistics, so on CPU a multi-process run
then matches a single-process run up to floating-point summation order.
Multi-node: the usual torchrun rendezvous flags (``--nnodes``, ``--node-rank``, ``--rdzv-endpoint``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class World:
    """This process's place in the job: ``rank`` of ``size`` (1 = not distributed)."""

    rank: int = 0
    size: int = 1

    @property
    def enabled(self) -> bool:
        return self.size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init(device: str) -> World:
    """Join the process group when started by torchrun (``WORLD_SIZE`` > 1); otherwise a 1-process world."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return World()
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.startswith("cuda") else "gloo")
    return World(rank=dist.get_rank(), size=dist.get_world_size())


def gather(x: torch.Tensor, world: World) -> torch.Tensor:
    """Concatenate every rank's ``x`` along dim 0 in rank order; the local part keeps its gradient."""
    if not world.enabled:
        return x
    parts = [torch.empty_like(x) for _ in range(world.size)]
    dist.all_gather(parts, x.detach().contiguous())
    parts[world.rank] = x
    return torch.cat(parts)


def broadcast_flag(flag: bool, world: World) -> bool:
    """Rank 0's ``flag`` on every rank (e.g. an early-stop decision)."""
    if not world.enabled:
        return flag
    t = torch.tensor([int(flag)])
    dist.broadcast(t, src=0)
    return bool(t.item())


def barrier(world: World) -> None:
    if world.enabled:
        dist.barrier()


def shutdown(world: World) -> None:
    """Leave the process group together (a rank tearing gloo down while another still talks to it aborts)."""
    if world.enabled and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
