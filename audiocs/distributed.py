"""Distributed helpers: the process group under `torchrun`, and a deterministic batch sampler.

`EpochBatchSampler` cuts one seeded permutation per epoch into *global* batches and gives each
rank its contiguous slice of every global batch, so N ranks x (B/N) see exactly the rows that
one process sees with batch B, and a resumed run can skip the batches already done.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.distributed as dist

from audiocs.errors import AudiocsError
from audiocs.runner import resolve_device


@dataclass(frozen=True)
class DistContext:
    """Rank, world size and the device of this process."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def init_distributed(device_name: str) -> DistContext:
    """Join the process group when started by torchrun (WORLD_SIZE > 1): nccl on CUDA, gloo on CPU."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = resolve_device(device_name, local_rank)
    if world <= 1:
        return DistContext(device=device)
    if not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return DistContext(dist.get_rank(), dist.get_world_size(), local_rank, device)


def shutdown_distributed(ctx: DistContext, *, failed: bool = False) -> None:
    """Leave the process group (a no-op for one process).

    After a normal run every rank first waits at a barrier, so that no rank tears down its
    connections while another still uses them (gloo aborts a process that does); after an error
    the barrier is skipped, since the other ranks may never arrive.
    """
    if ctx.distributed and dist.is_initialized():
        if not failed:
            dist.barrier()
        dist.destroy_process_group()


@contextlib.contextmanager
def distributed(device_name: str) -> Iterator[DistContext]:
    """`init_distributed`, then `shutdown_distributed` on leaving (failed=True on an error)."""
    ctx = init_distributed(device_name)
    try:
        yield ctx
    except BaseException:
        shutdown_distributed(ctx, failed=True)
        raise
    shutdown_distributed(ctx)


def barrier(ctx: DistContext) -> None:
    if ctx.distributed:
        dist.barrier()


def all_reduce_sum(ctx: DistContext, values: list[float]) -> list[float]:
    """Sum a few numbers over ranks (float64)."""
    if not ctx.distributed:
        return values
    t = torch.tensor(values, dtype=torch.float64)
    dist.all_reduce(t)
    return t.tolist()


class EpochBatchSampler:
    """Batches of dataset positions: a permutation seeded by (seed, epoch), cut into global
    batches of `global_batch` (the last partial batch dropped), each rank taking its slice.

    `set_epoch(epoch, skip=k)` makes the next iteration start after k batches of that epoch.
    With `with_epoch=True` each position comes as a pair (epoch, position), which
    `ClipDataset` reads (so that persistent DataLoader workers crop for the right epoch).
    """

    def __init__(self, num_items: int, global_batch: int, *, seed: int, rank: int = 0,
                 world_size: int = 1, shuffle: bool = True, with_epoch: bool = False) -> None:
        if global_batch % world_size:
            raise AudiocsError(f"data.batch_size = {global_batch} must be divisible by the "
                               f"number of processes ({world_size})")
        if num_items < global_batch:
            raise AudiocsError(f"data.batch_size = {global_batch} is larger than the "
                               f"{num_items} training rows")
        self.num_items, self.global_batch = num_items, global_batch
        self.seed, self.rank, self.world_size, self.shuffle = seed, rank, world_size, shuffle
        self.with_epoch = with_epoch
        self.epoch, self.skip = 0, 0

    def set_epoch(self, epoch: int, skip: int = 0) -> None:
        self.epoch, self.skip = epoch, skip

    def __len__(self) -> int:
        """Batches per epoch (the same on every rank)."""
        return self.num_items // self.global_batch

    def __iter__(self) -> Iterator[list[int] | list[tuple[int, int]]]:
        if self.shuffle:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
            order = torch.randperm(self.num_items, generator=g).tolist()
        else:
            order = list(range(self.num_items))
        per_rank = self.global_batch // self.world_size
        for b in range(self.skip, len(self)):
            start = b * self.global_batch + self.rank * per_rank
            batch = order[start:start + per_rank]
            yield [(self.epoch, i) for i in batch] if self.with_epoch else batch
