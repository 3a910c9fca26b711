"""Training on several processes: torchrun and DistributedDataParallel.

`torchrun --nproc_per_node N train.py ...` starts N copies of train.py and gives each its RANK,
LOCAL_RANK and WORLD_SIZE in the environment; `start` reads them. Without torchrun (or with a
world of one) it returns a `Processes` whose hooks change nothing, so the loop calls them all
the same and a single process runs exactly as before.

Over N processes:
- every process builds the model from the same seed, and DistributedDataParallel broadcasts
  rank 0's weights when it wraps them; afterwards each process draws from a random stream of its
  own (latents, dropout, penalty points), derived from the seed and its rank;
- each network is wrapped in its own DistributedDataParallel: a backward pass averages the
  gradients of exactly the networks it reaches (one wrapper over G and D together would expect
  G's gradients from the discriminator's backward pass, and fail with "Expected to have finished
  reduction in the prior iteration");
- `--batch-size` is the global batch: each process takes batch-size/N samples a step, its share of
  every epoch dealt by a DistributedSampler (`set_epoch`, `drop_last`);
- every loss term in train.py is a mean over the batch, so the mean of the processes' losses and
  gradients is what one process computes over the whole batch (except for what depends on the
  batch as a whole: batch-norm statistics, a sparsity target on the batch's mean activation);
- rank 0 alone writes: losses.csv (the losses averaged over processes), samples, evaluation,
  metrics.json and checkpoints, which hold the networks' own `state_dict()`, so one process
  loads them.
"""

import contextlib
import copy
import datetime
import os
import shlex
import signal
import sys
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import BatchSampler, DistributedSampler

from .data import take

# a signal no process received
NO_SIGNAL = 0
# seeds of the processes' own random streams: far from the seeds a user passes
RANK_SEED_STRIDE = 1_000_003


class Replicated(DistributedDataParallel):
    """One network's DistributedDataParallel, answering for the network's own attributes as well
    (train.py reads e.g. `model.enc.fc1.weight` for a closed-form penalty)."""

    def __getattr__(self, name: str):
        try:
            return super().__getattr__(name)
        except AttributeError:
            if name == "module":  # not set yet, inside DistributedDataParallel.__init__
                raise
            return getattr(self.module, name)


class Shard:
    """One process's share of every epoch: batch_size/world samples a step.

    DistributedSampler draws the permutation that `loop.batches` draws for one process (seed
    * 100003 + epoch) and deals it out round-robin, so the processes' k-th batches together are
    the one-process run's k-th batch."""

    def __init__(self, dataset, batch_size: int, seed: int, rank: int, world: int) -> None:
        self.dataset = dataset  # (x, y), or (x_1, ..., x_k, y) for several data tensors
        self.sampler = DistributedSampler(dataset, num_replicas=world, rank=rank, shuffle=True,
                                          seed=seed * 100003, drop_last=True)
        self.per_device = batch_size // world

    def epoch(self, epoch: int):
        self.sampler.set_epoch(epoch)
        for index in BatchSampler(self.sampler, self.per_device, drop_last=True):
            yield take(self.dataset, torch.tensor(index), epoch)  # data.Redrawn: drawn per epoch


@dataclass
class Processes:
    """This process's place among those torchrun started (rank 0 of 1 without torchrun)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    local_world: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def distributed(self) -> bool:
        return self.world > 1

    @property
    def main(self) -> bool:
        """Whether this process logs, draws, evaluates and saves."""
        return self.rank == 0

    @contextlib.contextmanager
    def main_first(self):
        """The block on each machine's first process, then on the others (a download into
        --root happens once)."""
        if self.distributed and self.local_rank != 0:
            dist.barrier()
        try:
            yield
        finally:
            if self.distributed and self.local_rank == 0:
                dist.barrier()

    def wrap(self, model: nn.Module) -> nn.Module:
        """The model that train_step runs: `model` itself for one process; else a shallow copy
        whose networks are each in their own DistributedDataParallel. The copy shares the
        parameters, so the optimizers, `model.state_dict()` and rank 0's evaluation see what
        training does. On CUDA, batch norm becomes SyncBatchNorm (its statistics over the global
        batch; it has the same state_dict keys); on CPU it stays per process (SyncBatchNorm
        needs CUDA)."""
        if not self.distributed:
            return model
        view = copy.copy(model)
        view._modules = dict(model._modules)
        wrapped = set()
        for name, net in model.named_children():
            if not any(p.requires_grad for p in net.parameters()):
                continue  # a frozen pretrained feature network: nothing to average
            if self.device.type == "cuda":
                net = nn.SyncBatchNorm.convert_sync_batchnorm(net)
                setattr(model, name, net)
                view._modules[name] = Replicated(net, device_ids=[self.device],
                                                 output_device=self.device)
            else:
                view._modules[name] = Replicated(net)
            wrapped.update(id(p) for p in net.parameters())
        stray = [n for n, p in model.named_parameters()
                 if p.requires_grad and id(p) not in wrapped]
        if stray:
            raise ValueError(f"parameters outside the model's networks would not be averaged "
                             f"over processes: {', '.join(stray)}")
        return view

    def shard(self, dataset, batch_size: int, seed: int) -> Shard | None:
        """This process's batches of each epoch (None for one process: loop.batches)."""
        if not self.distributed:
            return None
        return Shard(dataset, batch_size, seed, self.rank, self.world)

    def seed_rank(self, seed: int, checkpoint: dict | None) -> None:
        """A random stream of this process's own, from here on. Rank 0 keeps the stream one
        process would have; on --resume every rank takes back its own saved stream, or, when the
        checkpoint was written by another number of processes, a fresh one."""
        if not self.distributed:
            return
        saved = (checkpoint or {}).get("rank_rng") or []
        if len(saved) == self.world:
            torch.set_rng_state(saved[self.rank]["rng"])
            if self.device.type == "cuda" and saved[self.rank]["cuda_rng"] is not None:
                torch.cuda.set_rng_state(saved[self.rank]["cuda_rng"], self.device)
        elif self.rank > 0:
            step = (checkpoint or {}).get("step", 0)
            torch.manual_seed(seed + RANK_SEED_STRIDE * self.rank + step)

    def rng_states(self) -> dict:
        """{"rank_rng": every process's random state} for a checkpoint ({} for one process).
        Every process calls it at the same step."""
        if not self.distributed:
            return {}
        mine = {"rng": torch.get_rng_state(),
                "cuda_rng": (torch.cuda.get_rng_state(self.device)
                             if self.device.type == "cuda" else None)}
        states = [None] * self.world
        dist.all_gather_object(states, mine)
        return {"rank_rng": states}

    def agree(self, row: dict, signal_name: str | None) -> tuple[dict, str | None]:
        """(the row averaged over processes, a stop signal any process received), in one
        collective at every step, so that every process logs the same figures, sees the same bad
        value and stops at the same step."""
        if not self.distributed:
            return row, signal_name
        keys = sorted(row)
        number = signal.Signals[signal_name].value if signal_name else NO_SIGNAL
        mine = torch.tensor([row[k] for k in keys] + [number], dtype=torch.float64,
                            device=self.device)
        every = [torch.empty_like(mine) for _ in range(self.world)]
        dist.all_gather(every, mine)
        every = torch.stack(every).cpu()
        means = every[:, :-1].mean(0).tolist()
        received = int(every[:, -1].max().item())
        return dict(zip(keys, means)), signal.Signals(received).name if received else None

    def resume_command(self, script: str, args: list) -> str:
        """The command that resumes this run."""
        if not self.distributed:
            return f"python {shlex.join([script, *args, '--resume'])}"
        # `--`: torchrun would read train.py's --n as an abbreviation of its own options
        program = shlex.join(["--", script, *args, "--resume"])
        nodes = self.world // self.local_world
        if nodes > 1:
            return (f"(on each of the {nodes} machines) torchrun --nnodes {nodes} "
                    f"--nproc_per_node {self.local_world} --rdzv-backend c10d "
                    f"--rdzv-endpoint HOST:PORT {program}")
        return f"torchrun --standalone --nproc_per_node {self.local_world} {program}"

    def finish(self) -> None:
        """Wait for every process (rank 0 writes the last checkpoint and figures while the others
        wait: torchrun stops them all once one exits with an error), then leave the group."""
        if self.distributed and dist.is_initialized():
            dist.barrier()
            dist.destroy_process_group()

    def abort(self) -> None:
        """Leave the group without waiting for the others (this process is failing)."""
        if self.distributed and dist.is_initialized():
            dist.destroy_process_group()


def start(device: torch.device, batch_size: int) -> Processes | str:
    """This process's `Processes`; under torchrun, joined to the others (gloo on CPU, nccl on
    CUDA, one GPU per process); or an error message."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Processes(device=device)
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", str(world)))
    if device.type not in ("cpu", "cuda"):
        return f"error: {world} processes train on cpu or cuda, not {device.type}; pass --device"
    if batch_size % world:
        return (f"error: --batch-size {batch_size} is the global batch, split evenly over "
                f"{world} processes; pass a multiple of {world}")
    if device.type == "cuda":
        if local_rank >= torch.cuda.device_count():
            return (f"error: process {local_rank} of this machine has no GPU "
                    f"({torch.cuda.device_count()} visible); start at most that many per machine")
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo",
                            timeout=datetime.timedelta(minutes=30))
    if rank != 0:
        sys.stdout = open(os.devnull, "w")  # only rank 0 reports; errors still reach stderr
    return Processes(rank=rank, world=world, local_rank=local_rank, local_world=local_world,
                     device=device)
