"""Training on several processes (gendsl_runtime/distributed.py): torchrun, gloo on CPU.

Two processes train a GAN with a gradient penalty and batch norm, a VAE, a deterministic
autoencoder and an inpainting network on random blocks (new places every epoch) for a few steps
on a few samples. Each process writes its parameters at the end
(tests/runtime/rank_dump.py), so the tests compare them; the checkpoint rank 0 wrote resumes
in one plain process; the first losses equal those of one process at twice the per-device batch
(`--batch-size` is the global batch) wherever nothing random or batch-wide enters them (see
docs/training.md, "Several GPUs"); `gendsl run --nproc 2` stops both processes at the same step on
SIGINT. The rest (the sampler's shares, the wrapping, the refusals) runs in this process.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from torch import nn

from gendsl.run import train_command
from gendsl.runtime import distributed, loop
from train_support import compile_to

ROOT = Path(__file__).resolve().parents[2]
DUMP = Path(__file__).resolve().with_name("rank_dump.py")

# a critic with a gradient penalty (one backward pass through autograd.grad's graph) and a
# generator with batch norm, two critic steps per generator step
GAN_GP_BN = """\
model gan_gp_bn

data x: vector[2] from "ring8"
latent z: [8] ~ normal(0, 1)

generator G(z) -> [2] {
    linear(32) -> batchnorm -> relu
    linear(2)
}

critic C(x) -> [1] {
    linear(32) -> leaky_relu(0.2)
    linear(1)
}

forward {
    z ~ prior
    fake = G(z)
}

loss = gan(C(x), C(fake), wasserstein_gp, gp=10)

train {
    optimizer = adam(lr=1e-3, betas=(0.5, 0.9))
    d_steps = 2
    batch_size = 16
    epochs = 2
}
"""

# inpainting by L1 alone (nothing random in the step, no batch statistics) on blocks that move
# every epoch
INPAINT_L1 = """\
model inpaint_l1

data masked: image[1, 8, 8] in [-1, 1] from "random_block:digits"
data part: image[1, 4, 4] in [-1, 1]

network G(masked) -> [1, 4, 4] {
    conv2d(4, 4, 2, 1) -> leaky_relu(0.2)
    conv2d(1, 3, 1, 1) -> tanh
}

forward {
    fake = G(masked)
}

loss = l1(fake, part)

train {
    optimizer = adam(lr=1e-3)
    batch_size = 16
    epochs = 2
}
"""


def _env() -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    env["OMP_NUM_THREADS"] = "1"
    return env


def torchrun(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """Two processes on this machine, each running rank_dump.py around a train.py."""
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                           "--nproc_per_node", "2", "--", str(DUMP), *args],
                          cwd=cwd, env=_env(), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def one_process(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, *args], cwd=cwd, env=_env(), capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def train_rows(out: Path) -> list[dict]:
    with open(out / "losses.csv", newline="") as f:
        return [r for r in csv.DictReader(f) if r["split"] == "train"]


def assert_ranks_identical(out: Path) -> dict:
    """Both processes hold the same parameters; the checkpoint holds them under the model's own
    names (no `module.`), with both processes' random states. Returns rank 0's parameters."""
    ranks = [torch.load(out / f"rank{r}.pt") for r in (0, 1)]
    params = ranks[0]["parameters"]
    assert params.keys() == ranks[1]["parameters"].keys()
    for name, value in params.items():
        assert torch.equal(value, ranks[1]["parameters"][name]), name
    state = torch.load(out / "checkpoints" / "last.pt", weights_only=True)
    assert not any("module" in k for k in state["model"])
    for name, value in params.items():
        assert torch.equal(state["model"][name], value), name
    assert len(state["rank_rng"]) == 2
    assert not torch.equal(state["rank_rng"][0]["rng"], state["rank_rng"][1]["rng"])
    return params


def assert_resumes_in_one_process(train: Path, out: Path, steps: int, *args: str) -> None:
    before = len(train_rows(out))
    one_process(str(train), *args, "--steps", str(steps), "--resume", "--out", str(out),
                cwd=train.parents[1])
    assert len(train_rows(out)) == steps > before
    assert json.loads((out / "metrics.json").read_text())["steps"] == steps


@pytest.fixture(scope="module")
def data_root(tmp_path_factory) -> str:
    """One --root for the module's runs: mnist5k is converted once."""
    return str(tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("generated")
    compile_to(folder, text=GAN_GP_BN)
    compile_to(folder, text=INPAINT_L1)
    for name in ("vae", "ae_mlp"):
        compile_to(folder, ROOT / "specs" / f"{name}.gen")
    return folder


def test_gan_with_gradient_penalty_and_batchnorm_on_two_processes(built, tmp_path):
    train = built / "gan_gp_bn" / "train.py"
    common = ["--n", "64", "--batch-size", "16", "--quiet", "--no-plots"]
    out = tmp_path / "two"
    torchrun(str(train), *common, "--steps", "6", "--checkpoint-every", "4", "--out", str(out),
             cwd=built)
    rows = train_rows(out)
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4, 5, 6]
    assert [r["loss_g"] != "" for r in rows] == [False, True] * 3  # d_steps = 2
    assert_ranks_identical(out)
    # the critic's scores of real data take no noise and no batch statistics: the mean over both
    # processes' 8 samples is one process's mean over the same 16
    one = tmp_path / "one"
    one_process(str(train), *common, "--steps", "1", "--out", str(one), cwd=built)
    assert float(rows[0]["d_real"]) == pytest.approx(float(train_rows(one)[0]["d_real"]),
                                                     rel=1e-5)
    assert_resumes_in_one_process(train, out, 8, *common)


def test_vae_on_two_processes(built, data_root, tmp_path):
    train = built / "vae" / "train.py"
    common = ["--n", "128", "--batch-size", "32", "--quiet", "--no-plots", "--no-quality",
              "--root", data_root]
    out = tmp_path / "two"
    torchrun(str(train), *common, "--steps", "5", "--out", str(out), cwd=built)
    assert len(train_rows(out)) == 5
    assert_ranks_identical(out)
    one = tmp_path / "one"
    one_process(str(train), *common, "--steps", "1", "--out", str(one), cwd=built)
    two_first, one_first = train_rows(out)[0], train_rows(one)[0]
    # the KL term takes no noise: equal; the reconstruction decodes other draws of z
    assert float(two_first["kl"]) == pytest.approx(float(one_first["kl"]), rel=1e-5)
    assert float(two_first["bce"]) == pytest.approx(float(one_first["bce"]), rel=0.01)
    assert_resumes_in_one_process(train, out, 7, *common)


def test_deterministic_autoencoder_trains_on_two_processes_as_on_one(built, data_root, tmp_path):
    """Nothing random, no batch statistics: every loss and every weight after four steps of two
    processes equal those of one process at the whole batch (averaged gradients are exact)."""
    train = built / "ae_mlp" / "train.py"
    common = ["--n", "128", "--batch-size", "32", "--quiet", "--no-plots", "--steps", "4",
              "--root", data_root]
    two, one = tmp_path / "two", tmp_path / "one"
    torchrun(str(train), *common, "--out", str(two), cwd=built)
    params = assert_ranks_identical(two)
    one_process(str(train), *common, "--out", str(one), cwd=built)
    for a, b in zip(train_rows(two), train_rows(one), strict=True):
        assert float(a["loss"]) == pytest.approx(float(b["loss"]), rel=1e-6)
    alone = torch.load(one / "checkpoints" / "last.pt", weights_only=True)["model"]
    for name, value in params.items():
        torch.testing.assert_close(value, alone[name], rtol=1e-5, atol=1e-6)


def test_random_blocks_on_two_processes_are_those_of_one(built, tmp_path):
    """random_block: each process cuts the blocks of its share of the batch, drawn from the seed,
    the epoch and the sample: two processes train on one process's blocks, into the second
    epoch (new places) and on after a resume in one process."""
    train = built / "inpaint_l1" / "train.py"
    common = ["--n", "64", "--batch-size", "16", "--quiet", "--no-plots", "--no-report",
              "--seed", "3"]
    two, one = tmp_path / "two", tmp_path / "one"
    torchrun(str(train), *common, "--steps", "6", "--out", str(two), cwd=built)
    assert_ranks_identical(two)
    assert_resumes_in_one_process(train, two, 8, *common)
    one_process(str(train), *common, "--steps", "8", "--out", str(one), cwd=built)
    rows_two, rows_one = train_rows(two), train_rows(one)
    assert [r["epoch"] for r in rows_one] == ["0"] * 4 + ["1"] * 4
    for a, b in zip(rows_two, rows_one, strict=True):
        assert float(a["loss"]) == pytest.approx(float(b["loss"]), rel=1e-5)


def test_gendsl_run_nproc_stops_every_process_at_one_step_on_sigint(tmp_path):
    spec = tmp_path / "gan_gp_bn.gen"
    spec.write_text(GAN_GP_BN)
    out = tmp_path / "run"
    child = subprocess.Popen([sys.executable, "-m", "gendsl", "run", "--nproc", "2", "--no-write",
                              str(spec), "--n", "64", "--steps", "100000", "--quiet", "--no-plots",
                              "--checkpoint-every", "100000", "--out", str(out)],
                             cwd=tmp_path, env={**_env(), "PYTHONPATH": str(ROOT)},
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 300
        while not (out / "losses.csv").exists() or len(train_rows(out)) < 3:
            assert child.poll() is None, child.communicate()
            assert time.monotonic() < deadline, "no steps within 300 s"
            time.sleep(0.5)
        child.send_signal(signal.SIGINT)
        _, err = child.communicate(timeout=120)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == 130, err[-3000:]
    assert "Resume with: gendsl run --no-write --nproc 2" in err
    assert "torchrun --standalone --nproc_per_node 2 --" in err  # train.py's own resume line
    last = int(train_rows(out)[-1]["step"])
    assert torch.load(out / "checkpoints" / "last.pt", weights_only=True)["step"] == last


# in this process


def test_shards_of_two_processes_make_up_the_one_process_batches():
    data = torch.utils.data.TensorDataset(torch.arange(50.0).unsqueeze(1), torch.zeros(50))
    for epoch in (0, 3):
        alone = [x.flatten().tolist()
                 for x, _ in loop.batches(data, 8, 7, epoch, drop_last=True)]
        shards = [list(distributed.Shard(data, 8, 7, rank, 2).epoch(epoch)) for rank in (0, 1)]
        assert len(shards[0]) == len(shards[1]) == len(alone) == 6
        for k, whole in enumerate(alone):
            parts = [shards[r][k][0].flatten().tolist() for r in (0, 1)]
            assert len(parts[0]) == len(parts[1]) == 4
            assert sorted(parts[0] + parts[1]) == sorted(whole)
        assert [x.flatten().tolist() for x, _ in distributed.Shard(data, 8, 7, 0, 1).epoch(epoch)] == alone
    first = [x.flatten().tolist() for x, _ in distributed.Shard(data, 8, 7, 0, 2).epoch(0)]
    assert first != [x.flatten().tolist() for x, _ in distributed.Shard(data, 8, 7, 0, 2).epoch(1)]


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(3, 4)
        self.norm = nn.BatchNorm1d(4)

    def forward(self, x):
        return self.norm(self.fc1(x))


class Pair(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.G, self.D = Net(), Net()
        self.frozen = nn.Linear(3, 3).requires_grad_(False)

    def forward(self, x):
        return {"fake": self.G(x), "score": self.D(x)}


@pytest.fixture
def one_process_group():
    import torch.distributed as dist

    dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    try:
        yield
    finally:
        dist.destroy_process_group()


def test_each_network_in_its_own_ddp_sharing_the_models_parameters(one_process_group):
    model = Pair()
    keys = list(model.state_dict())
    view = distributed.Processes(world=2).wrap(model)  # a group of one stands in for two
    assert isinstance(view.G, distributed.Replicated) and isinstance(view.D, distributed.Replicated)
    assert view.G.module is model.G and view.D.module is model.D
    assert view.frozen is model.frozen  # nothing to average
    assert isinstance(model.G, Net) and list(model.state_dict()) == keys
    assert view.D.fc1.weight is model.D.fc1.weight  # train.py reads network attributes
    out = view(torch.randn(5, 3))
    out["score"].sum().backward()
    assert model.D.fc1.weight.grad is not None and model.G.fc1.weight.grad is None


def test_parameters_outside_the_networks_are_refused(one_process_group):
    model = Pair()
    model.scale = nn.Parameter(torch.ones(()))
    with pytest.raises(ValueError, match="scale"):
        distributed.Processes(world=2).wrap(model)


def test_one_process_changes_nothing():
    procs = distributed.Processes()
    model = Pair()
    assert procs.wrap(model) is model
    assert procs.shard(None, 8, 0) is None
    assert procs.agree({"loss": 1.5}, "SIGTERM") == ({"loss": 1.5}, "SIGTERM")
    assert procs.rng_states() == {}
    assert procs.resume_command("train.py", ["--n", "5"]) == "python train.py --n 5 --resume"


def test_torchrun_refusals(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    error = distributed.start(torch.device("cpu"), 7)
    assert "--batch-size 7 is the global batch" in error and "multiple of 2" in error
    assert "not mps" in distributed.start(torch.device("mps"), 8)
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert distributed.start(torch.device("cpu"), 7).world == 1


def test_gendsl_run_nproc_command(tmp_path):
    assert train_command(tmp_path, ["--n", "5"]) == [sys.executable, str(tmp_path / "train.py"),
                                                     "--n", "5"]
    command = train_command(tmp_path, ["--n", "5"], nproc=3)
    assert command[1:7] == ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
                            "3", "--"]
    assert command[7:] == [str(tmp_path / "train.py"), "--n", "5"]
