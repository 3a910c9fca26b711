"""GAN training beyond the objective's formula: R1/R2 penalties with lazy regularisation, the
moving average of a generator's weights (`ema`), and the critic-step warm-up (`d_steps =
warmup(...)`), each in generated train.py against an independent computation."""

from __future__ import annotations

import pytest
import torch

from train_support import SpecCache, imported, one_thread, train_rows  # noqa: F401


@pytest.fixture(scope="module")
def build(tmp_path_factory):
    return SpecCache(tmp_path_factory.mktemp("objectives"))


def spec(name: str, gan: str = "hinge", train: str = "") -> str:
    return f"""model {name}
data x: vector[2]
latent z: [3] ~ normal(0, 1)
generator G(z) -> [2] {{ linear(8) -> relu -> linear(2) }}
discriminator D(x) -> [1] {{ linear(8) -> leaky_relu(0.2) -> linear(1) }}
forward {{ z ~ prior  fake = G(z) }}
loss = gan(D(x), D(fake), {gan})
train {{
    optimizer G = adam(lr=1e-2)
    optimizer D = adam(lr=1e-2)
{train}
}}
"""


def setup(train, seed=0):
    torch.manual_seed(seed)
    model = train.RECIPE.model()
    return model, train.make_optimizers(model)


def close(a, b, tol=1e-5):
    assert torch.allclose(torch.as_tensor(a), torch.as_tensor(b), rtol=tol, atol=tol), (a, b)


def grad_norm_squared(d, samples):
    samples = samples.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(d(samples).sum(), samples, create_graph=True)
    return grad.pow(2).sum(1).mean()


def d_gradients_after_one_step(train, model, optimizers, x, iteration, monkeypatch):
    seen = {}
    real_step = optimizers["D"].step

    def keep():
        seen["grads"] = [p.grad.clone() for p in model.D.parameters()]
        real_step()
    monkeypatch.setattr(optimizers["D"], "step", keep)
    log = train.train_step(model, optimizers, x, torch.zeros(len(x), dtype=torch.long), iteration, {})
    return seen["grads"], log


@pytest.mark.parametrize("iteration", [0, 1, 4])
def test_r1_and_r2_enter_the_discriminator_loss_every_n_steps_n_times_as_heavy(build, monkeypatch, iteration):
    with imported(build(spec("t_r1r2", "hinge, r1=10, r2=0.5, every=4"))) as train:
        model, optimizers = setup(train)
        start = {k: v.clone() for k, v in model.state_dict().items()}
        x = torch.randn(16, 2)
        torch.manual_seed(3)
        got, log = d_gradients_after_one_step(train, model, optimizers, x, iteration, monkeypatch)
        model.load_state_dict(start)
        torch.manual_seed(3)
        fake = model.G(model.prior(16)[0]).detach()
        d = model.D
        loss = torch.relu(1 - d(x)).mean() + torch.relu(1 + d(fake)).mean()
        lazy = iteration % 4 == 0
        if lazy:  # gamma / 2 * E|grad D|^2, times 4 on the steps that compute it
            loss = loss + 4 * (10 / 2 * grad_norm_squared(d, x) + 0.5 / 2 * grad_norm_squared(d, fake))
        want = torch.autograd.grad(loss, list(d.parameters()))
    assert ("r1_penalty" in log) == lazy and ("r2_penalty" in log) == lazy
    for a, b in zip(got, want):
        close(a, b, 1e-4)


def test_the_penalties_are_columns_of_losses_csv(build, tmp_path):
    with imported(build(spec("t_r1_csv", "non_saturating, r1=1, every=2"))) as train:
        assert train.main(["--dry-run", "--quiet", "--steps", "4", "--batch-size", "4", "--out", str(tmp_path)]) == 0
    rows = train_rows(tmp_path / "losses.csv")
    train_rows_ = [r for r in rows if r["split"] == "train"]
    assert [r["r1_penalty"] != "" for r in train_rows_] == [True, False, True, False]
    assert all(r["r1_penalty"] != "" for r in rows if r["split"] == "val")


def test_ema_follows_the_generator_until_start_then_averages(build):
    with imported(build(spec("t_ema", train="    ema G = ema(decay=0.9, start=2)"))) as train:
        model, optimizers = setup(train)
        for p, q in zip(model.G.parameters(), model.G_ema.parameters()):
            assert torch.equal(p, q) and not q.requires_grad
        average = [p.detach().clone() for p in model.G.parameters()]
        for it in range(5):
            train.train_step(model, optimizers, torch.randn(8, 2), torch.zeros(8, dtype=torch.long), it, {})
            decay = 0.9 if it >= 2 else 0.0
            average = [decay * a + (1 - decay) * p.detach() for a, p in zip(average, model.G.parameters())]
            for a, q in zip(average, model.G_ema.parameters()):
                close(a, q, 1e-6)
        assert not all(torch.equal(p, q) for p, q in zip(model.G.parameters(), model.G_ema.parameters()))
        # samples and metrics come from the average
        z = torch.randn(4, 3)
        model.eval()
        close(model.generate(z), model.G_ema(z))
        assert not torch.allclose(model.generate(z), model.G(z))


def test_ema_is_refused_on_a_discriminator():
    from gendsl.driver import compile_source
    from gendsl.source import SourceFile

    result = compile_source(SourceFile("m.gen", spec("t_ema_d", train="    ema D = 0.999")))
    assert [d.code for d in result.diagnostics if d.is_error] == ["E0534"]


def test_warmup_runs_many_critic_steps_for_the_first_generator_steps(build, monkeypatch):
    with imported(build(spec("t_warmup", "wasserstein",
                             train="    d_steps = warmup(4, generator_steps=2, then=3)"))) as train:
        assert (train.D_STEPS, train.WARMUP_D_STEPS, train.WARMUP_G_STEPS) == (3, 4, 2)
        model, optimizers = setup(train)
        calls = []
        for name, opt in optimizers.items():
            def wrapped(real=opt.step, name=name):
                calls.append(name)
                real()
            monkeypatch.setattr(opt, "step", wrapped)
        for it in range(14):
            train.train_step(model, optimizers, torch.randn(8, 2), torch.zeros(8, dtype=torch.long), it, {})
    # 4 critic steps per generator step twice (8 iterations), then 3
    assert "".join(c for c in calls) == "DDDDG" * 2 + "DDDG" * 2


PATCH = """model {name}
data x: image[1, 16, 16] in [-1, 1]
latent z: [4] ~ normal(0, 1)
generator G(z) -> [1, 16, 16] {{ linear(256) -> tanh -> reshape(1, 16, 16) }}
discriminator D(x) -> {out} {{
    conv2d(4, 4, 2, 1) -> leaky_relu(0.2)
    {middle}
    pad((1, 0, 1, 0)) -> conv2d(1, 4, padding=1)
}}
forward {{ z ~ prior  fake = G(z) }}
loss = gan(D(x), D(fake), {kind})
"""


@pytest.mark.parametrize("kind", ["least_squares", "hinge", "non_saturating"])
def test_a_map_of_scores_is_averaged_over_positions(build, kind):
    with imported(build(PATCH.format(name=f"t_patch_{kind}", kind=kind, out="[1, 4, 4]",
                                     middle="conv2d(8, 4, 2, 1) -> instancenorm -> leaky_relu(0.2)"))) as train:
        model, _ = setup(train)
        x = torch.rand(3, 1, 16, 16) * 2 - 1
        real, fake = model.D(x), model.D(-x)
        assert real.shape == (3, 1, 4, 4)
        got = train.discriminator_loss_real(real.view(-1)) + train.discriminator_loss_fake(fake.view(-1))
        per_position = {
            "least_squares": lambda r, f: 0.5 * (r - 1) ** 2 + 0.5 * f ** 2,
            "hinge": lambda r, f: torch.relu(1 - r) + torch.relu(1 + f),
            "non_saturating": lambda r, f: -torch.nn.functional.logsigmoid(r) - torch.nn.functional.logsigmoid(-f),
        }[kind](real, fake)
        close(got, per_position.mean(), 1e-5)


def test_the_patch_behind_one_score_is_what_train_py_says(build):
    """The receptive field written in train.py equals the input region that moves one score."""
    import re

    folder = build(PATCH.format(name="t_patch_field", kind="least_squares", out="[1, 7, 7]",
                                middle="maxpool(2, stride=1)"))
    text = (folder / "train.py").read_text()
    h, w = map(int, re.search(r"each from a (\d+)x(\d+) patch", text).groups())
    with imported(folder) as train:
        model, _ = setup(train)
        x = torch.randn(1, 1, 16, 16, requires_grad=True)
        score = model.D(x)[0, 0, 3, 3]  # away from the borders
        (grad,) = torch.autograd.grad(score, x)
    rows = grad[0, 0].abs().sum(1).nonzero().flatten()
    cols = grad[0, 0].abs().sum(0).nonzero().flatten()
    assert (rows.max() - rows.min() + 1, cols.max() - cols.min() + 1) == (h, w)
