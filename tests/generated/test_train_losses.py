"""The loss formulas of generated train.py, each against an independent computation.

Small specs that use each term are compiled into a scratch folder; the generated functions
(loss_terms, kl_to_normal, generator_loss, ...) are imported from there and called on
tensors the test chooses.
"""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch
import torch.nn.functional as F
from torch.distributions import Normal, kl_divergence

from gendsl.runtime import loop
from train_support import SpecCache, generated_model, imported, one_thread, train_rows  # noqa: F401


@pytest.fixture(scope="module")
def build(tmp_path_factory):
    return SpecCache(tmp_path_factory.mktemp("specs"))


def close(a, b, tol=1e-5):
    a, b = torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64)
    assert torch.allclose(a, b, rtol=tol, atol=tol), f"{a.tolist()} != {b.tolist()}"


# ---------------------------------------------------------------------------
# Reconstruction and classification terms
# ---------------------------------------------------------------------------

def recon_spec(reduction: str) -> str:
    r = f", reduction={reduction}"
    return f"""model t_recon_{reduction}
data x: image[2, 3, 4] in [0, 1]
data y: label[5]
encoder enc(x) -> [3] {{ flatten -> linear(3) -> sigmoid }}
decoder dec(code: [3]) -> [2, 3, 4] {{ linear(24) -> sigmoid -> reshape(2, 3, 4) }}
decoder dec_logits(code: [3]) -> [2, 3, 4] {{ linear(24) -> reshape(2, 3, 4) }}
network head(code: [3]) -> [5] {{ linear(5) }}
forward {{
    code = enc(x)
    x_hat = dec(code)
    x_logits = dec_logits(code)
    scores = head(code)
}}
loss = mse(x_hat, x{r}) + l1(x_hat, x{r}) + bce(x_hat, x{r}) + bce_logits(x_logits, x{r})
    + 0.5 * cross_entropy(scores, y{r})
"""


def recon_values(batch=7):
    g = torch.Generator().manual_seed(1)
    return {
        "x": torch.rand(batch, 2, 3, 4, generator=g),
        "x_hat": torch.rand(batch, 2, 3, 4, generator=g) * 0.98 + 0.01,
        "x_logits": torch.randn(batch, 2, 3, 4, generator=g) * 3,
        "scores": torch.randn(batch, 5, generator=g),
        "y": torch.randint(0, 5, (batch,), generator=g),
    }


def per_element(values):
    """Each term's value per element (per sample for cross-entropy), written out by hand."""
    x, p, logits = values["x"], values["x_hat"], values["x_logits"]
    q = torch.sigmoid(logits)
    log_softmax = values["scores"] - values["scores"].exp().sum(1, keepdim=True).log()
    return {
        "mse": (p - x) ** 2,
        "l1": (p - x).abs(),
        "bce": -(x * p.log() + (1 - x) * (1 - p).log()),
        "bce_logits": -(x * q.log() + (1 - x) * (1 - q).log()),
        "cross_entropy": -log_softmax[torch.arange(len(x)), values["y"]],
    }


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_reconstruction_and_cross_entropy(build, reduction):
    with imported(build(recon_spec(reduction))) as train:
        values = recon_values()
        total, terms = train.loss_terms({}, values, {})
    assert set(terms) == {"mse", "l1", "bce", "bce_logits", "cross_entropy"}
    for name, elements in per_element(values).items():
        if reduction == "mean":
            expected = elements.mean()  # mean over every element of the batch
        else:  # summed over each sample's elements, averaged over the batch
            expected = elements.reshape(len(elements), -1).sum(1).mean()
        close(terms[name], expected)
    close(total, sum(terms[k] for k in ("mse", "l1", "bce", "bce_logits")) + 0.5 * terms["cross_entropy"])


def test_sum_reduction_is_mean_times_elements_per_sample(build):
    """The two reductions differ by exactly the number of elements in a sample (24)."""
    values = recon_values()
    with imported(build(recon_spec("mean"))) as train:
        _, mean = train.loss_terms({}, values, {})
    with imported(build(recon_spec("sum"))) as train:
        _, summed = train.loss_terms({}, values, {})
    for k in ("mse", "l1", "bce", "bce_logits"):
        close(summed[k], 24 * mean[k])
    close(summed["cross_entropy"], mean["cross_entropy"])


# ---------------------------------------------------------------------------
# VAE: KL, reparameterisation, priors
# ---------------------------------------------------------------------------

def vae_spec(prior: str, name: str) -> str:
    return f"""model {name}
data x: vector[6] in [0, 1]
latent z: [4] ~ {prior}
encoder enc(x) -> (mu: [4], logvar: [4]) {{
    h = linear(8) -> tanh
    mu = h -> linear(4)
    logvar = h -> linear(4)
}}
decoder dec(z) -> [6] {{ linear(6) -> sigmoid }}
forward {{
    mu, logvar = enc(x)
    z ~ normal(mu, logvar)
    x_hat = dec(z)
}}
loss = bce(x_hat, x, reduction=sum) + kl(z)
"""


@pytest.mark.parametrize("prior, mean, std", [("normal(0, 1)", 0.0, 1.0), ("normal(1.5, 2)", 1.5, 2.0),
                                              ("normal(-1, 0.5)", -1.0, 0.5)], ids=["standard", "wide", "narrow"])
def test_kl_matches_torch_distributions(build, request, prior, mean, std):
    g = torch.Generator().manual_seed(2)
    mu, logvar = torch.randn(9, 4, generator=g) * 2, torch.randn(9, 4, generator=g)
    expected = kl_divergence(Normal(mu, (0.5 * logvar).exp()),
                             Normal(torch.full_like(mu, mean), torch.full_like(mu, std)))
    expected = expected.sum(1).mean()  # summed over latent units, averaged over the batch
    with imported(build(vae_spec(prior, "t_kl_" + request.node.callspec.id))) as train:
        x = torch.rand(9, 6, generator=g)
        values = {"x": x, "x_hat": torch.full_like(x, 0.5), "mu": mu, "logvar": logvar, "z": mu}
        total, terms = train.loss_terms({}, values, {})
        if (mean, std) == (0.0, 1.0):
            close(train.kl_to_standard_normal(mu, logvar), expected)
        else:
            close(train.kl_to_normal(mu, logvar, mean, std), expected)
    close(terms["kl"], expected)
    close(total, terms["bce"] + terms["kl"])
    close(terms["bce"], 6 * math.log(2), 1e-4)  # bce of 0.5 against anything: log 2 per element


def test_kl_is_zero_at_the_prior(build):
    with imported(build(vae_spec("normal(1.5, 2)", "t_kl_zero"))) as train:
        mu, logvar = torch.full((3, 4), 1.5), torch.full((3, 4), math.log(4.0))
        close(train.kl_to_normal(mu, logvar, 1.5, 2.0), 0.0)


def test_reparameterisation_statistics_and_gradients(build):
    with imported(build(vae_spec("normal(0, 1)", "t_reparam"))):
        n = 200_000
        mu = torch.tensor([1.0, -2.0, 0.0]).repeat(n, 1).requires_grad_(True)
        logvar = torch.tensor([0.0, math.log(4.0), math.log(0.01)]).repeat(n, 1).requires_grad_(True)
        torch.manual_seed(0)
        z = generated_model().reparameterize(mu, logvar)
        z.sum().backward()
    sd = torch.tensor([1.0, 2.0, 0.1])
    # mean within 5 standard errors, sd within 2%
    assert ((z.mean(0) - torch.tensor([1.0, -2.0, 0.0])).abs() < 5 * sd / math.sqrt(n)).all(), z.mean(0)
    assert ((z.std(0) / sd - 1).abs() < 0.02).all(), z.std(0)
    assert torch.equal(mu.grad, torch.ones_like(mu))  # dz/dmu = 1
    eps = (z - mu) / (0.5 * logvar).exp()
    close(logvar.grad, 0.5 * (0.5 * logvar).exp() * eps)  # dz/dlogvar = sigma * eps / 2


def test_forward_samples_z_from_the_encoder_posterior(build):
    """model_forward draws z = mu + exp(logvar / 2) * eps, eps ~ N(0, I), from enc's outputs."""
    with imported(build(vae_spec("normal(0, 1)", "t_reparam"))) as train:
        torch.manual_seed(3)
        model = train.RECIPE.model()
        nets = dict(model.named_children())
        x = torch.rand(5, 6)
        torch.manual_seed(11)
        values = model(x)
        torch.manual_seed(11)
        eps = torch.randn(5, 4)
        mu, logvar = nets["enc"](x)
    close(values["mu"], mu)
    close(values["z"], mu + (0.5 * logvar).exp() * eps)
    close(values["x_hat"], nets["dec"](values["z"]))


def gan_prior_spec(prior: str) -> str:
    return f"""model t_prior
data x: vector[2]
latent z: [3] ~ {prior}
generator G(z) -> [2] {{ linear(2) }}
discriminator D(x) -> [1] {{ linear(1) }}
forward {{ z ~ prior  fake = G(z) }}
loss = gan(D(x), D(fake), non_saturating)
"""


@pytest.mark.parametrize("prior, mean, sd, low, high", [
    ("normal(0, 1)", 0.0, 1.0, None, None), ("normal(1.5, 2)", 1.5, 2.0, None, None),
    ("uniform(-1, 1)", 0.0, 1 / math.sqrt(3), -1.0, 1.0), ("uniform(2, 5)", 3.5, 3 / math.sqrt(12), 2.0, 5.0)])
def test_prior_sampling_statistics(build, prior, mean, sd, low, high):
    with imported(build(gan_prior_spec(prior))) as train:
        torch.manual_seed(0)
        z, = train.RECIPE.model().prior(100_000)
    assert z.shape == (100_000, 3)
    assert (z.mean(0) - mean).abs().max() < 5 * sd / math.sqrt(len(z))
    assert (z.std(0) / sd - 1).abs().max() < 0.02
    if low is not None:
        assert z.min() >= low and z.max() <= high


# ---------------------------------------------------------------------------
# Sparsity, contractive, perceptual
# ---------------------------------------------------------------------------

SPARSE = """model t_sparse
data x: vector[6] in [0, 1]
encoder enc(x) -> [5] {
    h = linear(5) -> sigmoid
}
decoder dec(code: [5]) -> [6] { linear(6) -> sigmoid }
forward { code = enc(x)  x_hat = dec(code) }
loss = mse(x_hat, x) + 0.25 * l1_activity(enc.h) + 3 * kl_sparsity(enc.h, rho=0.05)
"""


def test_l1_activity_and_kl_sparsity(build):
    g = torch.Generator().manual_seed(4)
    h = torch.rand(8, 5, generator=g) * 0.9 + 0.05
    x = torch.rand(8, 6, generator=g)
    values = {"x": x, "x_hat": x.clone(), "code": h, "h": h}
    with imported(build(SPARSE)) as train:
        total, terms = train.loss_terms({}, values, {})
    close(terms["l1_activity"], sum(abs(v) for row in h.tolist() for v in row) / 8)
    rho = 0.05
    expected = 0.0
    for j in range(5):
        rho_hat = sum(h[i, j].item() for i in range(8)) / 8  # mean activation of unit j over the batch
        expected += rho * math.log(rho / rho_hat) + (1 - rho) * math.log((1 - rho) / (1 - rho_hat))
    close(terms["kl_sparsity"], expected)
    close(terms["mse"], 0.0)
    close(total, 0.25 * terms["l1_activity"] + 3 * terms["kl_sparsity"])


def test_kl_sparsity_is_zero_at_target(build):
    with imported(build(SPARSE)) as train:
        h = torch.full((4, 5), 0.05)
        close(train.kl_sparsity(h, rho=0.05), 0.0)


def contractive_spec(encoder: str, code: str = "[4]") -> str:
    return f"""model t_contractive
data x: image[1, 2, 3] in [0, 1]
param lam = 0.1
encoder enc(x) -> {code} {{ {encoder} }}
decoder dec(code: {code}) -> [1, 2, 3] {{ flatten -> linear(6) -> sigmoid -> reshape(1, 2, 3) }}
forward {{ code = enc(x)  x_hat = dec(code) }}
loss = bce(x_hat, x) + lam * contractive(code, x)
"""


CONTRACTIVE = contractive_spec("flatten -> linear(5) -> tanh -> linear(4) -> sigmoid")
ENCODERS = {  # one layer (closed form possible) and deeper codes
    "sigmoid": ("flatten -> linear(4) -> sigmoid", "[4]"),
    "tanh": ("flatten -> linear(4) -> tanh", "[4]"),
    "relu": ("flatten -> linear(4) -> relu", "[4]"),
    "linear": ("flatten -> linear(4)", "[4]"),
    "deep": ("flatten -> linear(5) -> tanh -> linear(4) -> sigmoid", "[4]"),
    "reshaped": ("flatten -> linear(4) -> sigmoid -> reshape(1, 2, 2)", "[1, 2, 2]"),
    "conv": ("conv2d(2, 2) -> tanh -> flatten", "[4]"),
}


@pytest.mark.parametrize("kind", list(ENCODERS))
def test_contractive_penalty_matches_autograd_jacobian(build, kind):
    with imported(build(contractive_spec(*ENCODERS[kind]))) as train:
        torch.manual_seed(5)
        model = train.RECIPE.model()
        nets = dict(model.named_children())
        x = torch.rand(6, 1, 2, 3)
        values = model(x.clone())
        total, terms = train.loss_terms(model, values, {})
    enc = nets["enc"]
    expected = 0.0
    for i in range(len(x)):
        jac = torch.autograd.functional.jacobian(lambda xi: enc(xi.unsqueeze(0)).squeeze(0), x[i])
        expected += jac.pow(2).sum().item()  # squared Frobenius norm of this sample's Jacobian
    assert expected > 0
    close(terms["contractive"], expected / len(x))
    close(total, terms["bce"] + 0.1 * terms["contractive"])
    # the penalty is differentiable w.r.t. the encoder's weights
    grads = torch.autograd.grad(terms["contractive"], list(enc.parameters()), allow_unused=True)
    assert any(g_ is not None and g_.abs().sum() > 0 for g_ in grads)
    assert all(g_ is None or torch.isfinite(g_).all() for g_ in grads)


def test_contractive_penalty_of_a_linear_code_is_the_weight_norm(build):
    """For code = W x + b the Jacobian is W for every sample: the penalty is ||W||_F^2."""
    with imported(build(CONTRACTIVE)) as train:
        w = torch.randn(3, 5)
        x = torch.randn(7, 5, requires_grad=True)
        code = x @ w.T + 1.0
        close(train.contractive_penalty(code, x), w.pow(2).sum())


PERCEPTUAL = """model t_perceptual
data x: image[1, 8, 8] in [0, 1]
encoder enc(x) -> [6] { flatten -> linear(6) -> tanh }
decoder dec(code: [6]) -> [1, 8, 8] { linear(64) -> sigmoid -> reshape(1, 8, 8) }
network features(img: [1, 8, 8]) -> [3, 4, 4] { conv2d(3, 3, stride=2, padding=1) -> relu }
forward { code = enc(x)  x_hat = dec(code) }
loss = mse(x_hat, x) + 2 * perceptual(features, x_hat, x)
"""


def test_perceptual_loss(build):
    with imported(build(PERCEPTUAL)) as train:
        torch.manual_seed(6)
        model = train.RECIPE.model()
        nets = dict(model.named_children())
        a, b = torch.rand(5, 1, 8, 8), torch.rand(5, 1, 8, 8)
        total, terms = train.loss_terms(model, {"x_hat": a, "x": b}, {})
        assert [n for n, net in train.RECIPE.model().named_children() if not net.training] == ["features"]
    fa, fb = nets["features"](a), nets["features"](b)
    close(terms["perceptual"], ((fa - fb) ** 2).mean())
    close(total, terms["mse"] + 2 * terms["perceptual"])


def test_perceptual_feature_network_is_frozen(build, tmp_path, monkeypatch):
    """Training moves the autoencoder but never the fixed feature network."""
    with imported(build(PERCEPTUAL)) as train:
        built = {}
        real_build = train.RECIPE.model

        def build_and_keep():
            model = real_build()
            built.update(model.named_children())
            return model

        monkeypatch.setattr(train, "RECIPE", dataclasses.replace(train.RECIPE, model=build_and_keep))
        torch.manual_seed(0)
        before = {k: [p.detach().clone() for p in v.parameters()] for k, v in real_build().named_children()}
        assert train.main(["--dry-run", "--quiet", "--steps", "3", "--batch-size", "4", "--out", str(tmp_path)]) == 0
    after = {k: list(v.parameters()) for k, v in built.items()}
    assert all(torch.equal(p, q) for p, q in zip(before["features"], after["features"]))
    assert not any(torch.equal(p, q) for p, q in zip(before["enc"], after["enc"]))


# ---------------------------------------------------------------------------
# Corruptions
# ---------------------------------------------------------------------------

def denoise_spec(corruption: str, low: float = 0, high: float = 1) -> str:
    return f"""model t_denoise
data x: vector[8] in [{low}, {high}]
encoder enc(x) -> [4] {{ linear(4) -> sigmoid }}
decoder dec(code: [4]) -> [8] {{ linear(8) -> sigmoid }}
forward {{
    x_noisy = {corruption}
    code = enc(x_noisy)
    x_hat = dec(code)
}}
loss = mse(x_hat, x)
"""


def test_gaussian_noise_statistics(build):
    with imported(build(denoise_spec("gaussian_noise(x, std=0.3)"))):
        x = torch.rand(1000, 100)
        torch.manual_seed(0)
        noise = generated_model().gaussian_noise(x, 0.3) - x
    assert abs(noise.mean().item()) < 5 * 0.3 / math.sqrt(noise.numel())
    assert abs(noise.std().item() / 0.3 - 1) < 0.01
    assert abs(torch.corrcoef(torch.stack([noise.flatten(), x.flatten()]))[0, 1].item()) < 0.01  # independent of x


@pytest.mark.parametrize("low, high", [(0, 1), (-1, 1)])
def test_masking_noise_fraction_and_value(build, low, high):
    with imported(build(denoise_spec("masking_noise(x, p=0.25)", low, high))) as train:
        x = torch.rand(10_000, 8) * 0.5 + 0.25  # never equal to the low end
        model = train.RECIPE.model()
        torch.manual_seed(0)
        y = model(x)["x_noisy"]  # the forward block passes the declared range to masking_noise
    masked = y != x
    assert abs(masked.float().mean().item() - 0.25) < 0.005
    assert (y[masked] == low).all()  # masked values are set to the low end of the declared range


@pytest.mark.parametrize("low, high", [(0, 1), (-1, 1)])
def test_salt_and_pepper_fraction_and_values(build, low, high):
    with imported(build(denoise_spec("salt_and_pepper(x, p=0.1)", low, high))) as train:
        x = torch.rand(10_000, 8) * 0.5 + 0.25
        model = train.RECIPE.model()
        torch.manual_seed(0)
        y = model(x)["x_noisy"]  # the forward block passes the declared range to salt_and_pepper
    hit = y != x
    assert abs(hit.float().mean().item() - 0.1) < 0.004
    assert ((y[hit] == low) | (y[hit] == high)).all()
    assert abs((y[hit] == high).float().mean().item() - 0.5) < 0.02  # salt and pepper equally likely


@pytest.mark.parametrize("corruption", ["gaussian_noise(x, std=0.3)", "masking_noise(x, p=0.5)",
                                        "salt_and_pepper(x, p=0.5)"])
def test_corruption_applies_to_the_input_only(build, corruption):
    """The encoder sees the corrupted input; the reconstruction target is the clean one."""
    with imported(build(denoise_spec(corruption))) as train:
        torch.manual_seed(0)
        model = train.RECIPE.model()
        seen = []
        model.enc = RecordingEnc(model.enc, seen)
        x = torch.rand(16, 8) * 0.5 + 0.25
        clean = x.clone()
        values = model(x)
        _, terms = train.loss_terms(model, values, {})
    assert torch.equal(x, clean)  # not corrupted in place
    assert torch.equal(values["x"], clean)
    assert torch.equal(seen[0], values["x_noisy"]) and not torch.equal(seen[0], clean)
    close(terms["mse"], F.mse_loss(values["x_hat"], clean))


# ---------------------------------------------------------------------------
# k-sparse
# ---------------------------------------------------------------------------

KSPARSE = """model t_ksparse
data x: vector[12] in [0, 1]
encoder enc(x) -> [10] { linear(10) -> topk(3) }
decoder dec(code: [10]) -> [12] { linear(12) -> sigmoid }
forward { code = enc(x)  x_hat = dec(code) }
loss = mse(x_hat, x)
"""


def test_topk_keeps_exactly_k_per_sample(build):
    with imported(build(KSPARSE)) as train:
        torch.manual_seed(7)
        model = train.RECIPE.model()
        nets = dict(model.named_children())
        x = torch.rand(32, 12)
        values = model(x)
    code = values["code"]
    assert ((code != 0).sum(1) == 3).all()
    (linear,) = [m for m in nets["enc"].modules() if isinstance(m, torch.nn.Linear)]
    top = linear(x).topk(3, dim=1)  # the kept units are the 3 largest pre-activations, unchanged
    assert torch.equal(code.gather(1, top.indices), top.values)


# ---------------------------------------------------------------------------
# GAN objectives and the alternating updates
# ---------------------------------------------------------------------------

def gan_spec(kind: str, last: str = "", extra: str = "", d_steps: int = 1, shape: str = "[2]",
             name: str = "t_gan") -> str:
    last = f" -> {last}" if last else ""
    role = "critic" if kind.startswith("wasserstein") else "discriminator"
    return f"""model {name}
data x: vector{shape}
latent z: [3] ~ normal(0, 1)
generator G(z) -> {shape} {{ linear(8) -> relu -> linear({eval(shape)[0]}) }}
{role} D(x) -> [1] {{ linear(8) -> leaky_relu(0.2) -> linear(1){last} }}
forward {{ z ~ prior  fake = G(z) }}
loss = gan(D(x), D(fake), {kind}{extra})
train {{
    optimizer G = adam(lr=1e-2)
    optimizer D = adam(lr=1e-2)
    d_steps = {d_steps}
}}
"""


def d_outputs(probabilities: bool):
    g = torch.Generator().manual_seed(8)
    if probabilities:
        return torch.rand(50, generator=g) * 0.9 + 0.05, torch.rand(50, generator=g) * 0.9 + 0.05
    return torch.randn(50, generator=g) * 2, torch.randn(50, generator=g) * 2


def _generator_expected(kind, p, raw):
    """Generator objectives from the papers, on D's probability p (sigmoid of the logit)."""
    if kind == "minimax":
        return p.mul(-1).log1p().mean()  # E[log(1 - D(G(z)))], minimised by G
    if kind == "non_saturating":
        return -p.log().mean()  # -E[log D(G(z))]
    if kind == "max_likelihood":
        return -0.5 * (p / (1 - p)).mean()  # -1/2 E[exp(logit D(G(z)))], exp(logit p) = p / (1 - p)
    if kind == "least_squares":
        return 0.5 * ((raw - 1) ** 2).mean()
    return -raw.mean()  # Wasserstein: -E[C(G(z))]


def _discriminator_expected(kind, p_real, p_fake, real, fake):
    if kind in ("minimax", "non_saturating", "max_likelihood"):
        return -p_real.log().mean() - (1 - p_fake).log().mean()  # -E[log D(x)] - E[log(1 - D(G(z)))]
    if kind == "least_squares":
        return 0.5 * ((real - 1) ** 2).mean() + 0.5 * (fake ** 2).mean()
    return fake.mean() - real.mean()  # critic: E[C(G(z))] - E[C(x)]


GAN_CASES = [("minimax", "sigmoid"), ("minimax", ""), ("non_saturating", "sigmoid"), ("non_saturating", ""),
             ("max_likelihood", "sigmoid"), ("max_likelihood", ""), ("least_squares", ""),
             ("wasserstein", ""), ("wasserstein_gp", "")]


def discriminator_loss(train, d_real, d_fake):
    """The whole discriminator loss of a generated train.py: one function with a gradient penalty,
    else the real and generated halves that train_step backpropagates one after the other."""
    if hasattr(train, "discriminator_loss"):
        assert not hasattr(train, "discriminator_loss_real")
        return train.discriminator_loss(d_real, d_fake)
    return train.discriminator_loss_real(d_real) + train.discriminator_loss_fake(d_fake)


@pytest.mark.parametrize("kind, last", GAN_CASES, ids=[f"{k}-{'prob' if l else 'logit'}" for k, l in GAN_CASES])
def test_gan_objectives(build, kind, last):
    probabilities = last == "sigmoid"
    with imported(build(gan_spec(kind, last, name=f"t_{kind}_{'p' if probabilities else 'l'}"))) as train:
        real, fake = d_outputs(probabilities)
        loss_g = train.generator_loss(fake)
        loss_d = discriminator_loss(train, real, fake)
    squash = (lambda t: t) if probabilities else torch.sigmoid
    close(loss_g, _generator_expected(kind, squash(fake), fake), 1e-4)
    close(loss_d, _discriminator_expected(kind, squash(real), squash(fake), real, fake), 1e-4)


def test_minimax_and_non_saturating_gradients_differ_as_in_the_paper(build):
    """Where D confidently rejects the fakes, minimax's gradient vanishes and non-saturating's does not."""
    grads = {}
    for kind in ("minimax", "non_saturating"):
        with imported(build(gan_spec(kind, "sigmoid", name=f"t_{kind}_p"))) as train:
            logit = torch.full((4,), -8.0, requires_grad=True)
            train.generator_loss(torch.sigmoid(logit)).backward()
            grads[kind] = logit.grad.abs().mean().item()
    assert grads["minimax"] < 1e-3 < 0.1 < grads["non_saturating"]


def _gan_setup(train, seed=0):
    torch.manual_seed(seed)
    model = train.RECIPE.model()
    optimizers = train.make_optimizers(model)
    return model, optimizers


@pytest.mark.parametrize("kind, last", [("non_saturating", "sigmoid"), ("wasserstein_gp", "")])
def test_gan_validation_figures(build, kind, last):
    """The held-out rows of losses.csv: the same objective as training, on test batches, nothing updated."""
    with imported(build(gan_spec(kind, last, name=f"t_val_{kind}"))) as train:
        model, _ = _gan_setup(train)
        nets = dict(model.named_children())
        test = torch.utils.data.TensorDataset(torch.randn(20, 2), torch.zeros(20, dtype=torch.long))
        args = loop.parse_args(train.RECIPE, ["--batch-size", "8"])
        before = {k: t.clone() for k, t in nets["D"].state_dict().items()}
        torch.manual_seed(3)
        got = loop.evaluate(train.RECIPE, model, test, args, torch.device("cpu"))
        assert all(torch.equal(before[k], t) for k, t in nets["D"].state_dict().items())
        torch.manual_seed(3)
        sums, d, g = {}, nets["D"].eval(), nets["G"].eval()
        with torch.no_grad():
            for x, _ in loop.batches(test, 8, args.seed, 0, drop_last=False):
                fake = g(torch.randn(len(x), 3))
                d_real, d_fake = d(x).view(-1), d(fake).view(-1)
                if kind == "wasserstein_gp":
                    torch.rand(len(x), 1)  # the penalty's interpolation weights come next in the stream
                row = {"loss_d": _discriminator_expected(kind, d_real, d_fake, d_real, d_fake),
                       "loss_g": _generator_expected(kind, d_fake, d_fake),
                       "d_real": d_real.mean(), "d_fake": d_fake.mean()}
                for k, v in row.items():
                    sums[k] = sums.get(k, 0.0) + float(v) * len(x)
    for k, v in sums.items():
        assert got[k] == pytest.approx(v / 20, rel=1e-5, abs=1e-6), k
    assert ("gradient_penalty" in got) == (kind == "wasserstein_gp")


def test_weight_clipping_bounds_every_critic_parameter(build):
    with imported(build(gan_spec("wasserstein", extra=", clip=0.05", name="t_clip"))) as train:
        model, optimizers = _gan_setup(train)
        nets = dict(model.named_children())
        with torch.no_grad():
            for p in nets["D"].parameters():
                p.uniform_(-1, 1)
        for it in range(3):
            train.train_step(model, optimizers, torch.randn(16, 2), torch.zeros(16, dtype=torch.long), it, {})
            params = torch.cat([p.detach().flatten() for p in nets["D"].parameters()])
            assert params.abs().max() <= 0.05
            assert (params.abs() == 0.05).any()  # clipping did something
        generator = torch.cat([p.detach().flatten() for p in nets["G"].parameters()])
        assert generator.abs().max() > 0.05  # only the critic is clipped


def test_default_clip_is_0_01(build):
    with imported(build(gan_spec("wasserstein", name="t_clip_default"))) as train:
        model, optimizers = _gan_setup(train)
        nets = dict(model.named_children())
        train.train_step(model, optimizers, torch.randn(16, 2), torch.zeros(16, dtype=torch.long), 0, {})
        params = torch.cat([p.detach().flatten() for p in nets["D"].parameters()])
    assert params.abs().max() <= 0.01


@pytest.mark.parametrize("shape", ["[2]", "[5]"])
def test_gradient_penalty_matches_per_sample_jacobian(build, shape):
    with imported(build(gan_spec("wasserstein_gp", shape=shape, name=f"t_gp{shape[1]}"))) as train:
        model, _ = _gan_setup(train)
        nets = dict(model.named_children())
        critic = nets["D"]
        n = eval(shape)[0]
        real, fake = torch.randn(10, n) + 3, torch.randn(10, n)
        torch.manual_seed(9)
        penalty = train.gradient_penalty(critic, real, fake)
        torch.manual_seed(9)
        eps = torch.rand(10)  # the same interpolation weights, one per sample
    expected = 0.0
    for i in range(10):
        point = eps[i] * real[i] + (1 - eps[i]) * fake[i]
        grad = torch.autograd.functional.jacobian(lambda v: critic(v.unsqueeze(0)).squeeze(), point)
        expected += (grad.norm() - 1).item() ** 2
    close(penalty, expected / 10)


def test_gradient_penalty_enters_the_critic_loss_with_lambda(build, monkeypatch):
    with imported(build(gan_spec("wasserstein_gp", extra=", gp=7", name="t_gp_lambda"))) as train:
        model, optimizers = _gan_setup(train)
        nets = dict(model.named_children())
        seen = {}
        real_step = optimizers["D"].step

        def step_after_checking_grads():
            seen["grads"] = [p.grad.clone() for p in nets["D"].parameters()]
            real_step()

        monkeypatch.setattr(optimizers["D"], "step", step_after_checking_grads)
        x = torch.randn(16, 2)
        torch.manual_seed(1)
        before = {k: v.state_dict() for k, v in nets.items()}
        before = {k: {n: t.clone() for n, t in v.items()} for k, v in before.items()}
        log = train.train_step(model, optimizers, x, torch.zeros(16, dtype=torch.long), 0, {})
        # recompute by hand from the same starting point and random numbers
        for k, v in nets.items():
            v.load_state_dict(before[k])
        torch.manual_seed(1)
        fake = nets["G"](model.prior(16)[0]).detach()
        critic = nets["D"]
        loss = critic(fake).mean() - critic(x).mean() + 7 * train.gradient_penalty(critic, x, fake)
        expected = torch.autograd.grad(loss, list(critic.parameters()))
    assert "gradient_penalty" in log
    for got, want in zip(seen["grads"], expected):
        close(got, want, 1e-4)


@pytest.mark.parametrize("kind, last", [("non_saturating", "sigmoid"), ("wasserstein_gp", ""),
                                        ("least_squares", "")])
def test_each_step_updates_only_its_own_network(build, kind, last, monkeypatch):
    """The discriminator step leaves G's parameters alone; the generator step leaves D's alone."""
    with imported(build(gan_spec(kind, last, name=f"t_iso_{kind}"))) as train:
        model, optimizers = _gan_setup(train)
        nets = dict(model.named_children())
        snap = lambda net: [p.detach().clone() for p in net.parameters()]  # noqa: E731
        same = lambda a, b: all(torch.equal(p, q) for p, q in zip(a, b))  # noqa: E731
        events = []
        for name, opt in optimizers.items():
            def wrapped(real=opt.step, name=name):
                g_before, d_before = snap(nets["G"]), snap(nets["D"])
                real()
                events.append((name, same(g_before, snap(nets["G"])), same(d_before, snap(nets["D"]))))
            monkeypatch.setattr(opt, "step", wrapped)
        for it in range(3):
            g0, d0 = snap(nets["G"]), snap(nets["D"])
            train.train_step(model, optimizers, torch.randn(16, 2), torch.zeros(16, dtype=torch.long), it, {})
            # between the optimizer steps nothing else changes parameters
            assert not same(g0, snap(nets["G"])) and not same(d0, snap(nets["D"]))
            assert all(p.requires_grad for p in nets["D"].parameters())  # unfrozen again after the G step
    assert [e[0] for e in events] == ["D", "G"] * 3
    for name, g_same, d_same in events:
        assert (g_same, d_same) == ((True, False) if name == "D" else (False, True)), events


def test_discriminator_gradients_come_from_its_own_loss_only(build):
    """After an iteration D's gradients are those of its loss on real and detached fake samples: the
    generator's loss (backpropagated through D while D is frozen) added nothing to them."""
    with imported(build(gan_spec("non_saturating", "sigmoid", name="t_iso_grad"))) as train:
        model, optimizers = _gan_setup(train)
        nets = dict(model.named_children())
        start = {k: {n: t.clone() for n, t in v.state_dict().items()} for k, v in nets.items()}
        x = torch.randn(16, 2)
        torch.manual_seed(5)
        train.train_step(model, optimizers, x, torch.zeros(16, dtype=torch.long), 0, {})
        got = [p.grad.clone() for p in nets["D"].parameters()]
        for k, v in nets.items():
            v.load_state_dict(start[k])
        torch.manual_seed(5)
        fake = nets["G"](model.prior(16)[0])
        d = nets["D"]
        loss_d = discriminator_loss(train, d(x).view(-1), d(fake.detach()).view(-1))
        want = torch.autograd.grad(loss_d, list(d.parameters()))
        close(-torch.log(d(x)).mean() - torch.log(1 - d(fake)).mean(), loss_d)
    for a, b in zip(got, want):
        close(a, b, 1e-5)


def test_n_critic_updates_the_generator_once_every_d_steps(build, monkeypatch):
    with imported(build(gan_spec("wasserstein_gp", d_steps=5, name="t_ncritic"))) as train:
        assert train.D_STEPS == 5
        model, optimizers = _gan_setup(train)
        calls = []
        for name, opt in optimizers.items():
            def wrapped(real=opt.step, name=name):
                calls.append(name)
                real()
            monkeypatch.setattr(opt, "step", wrapped)
        logs = []
        for it in range(15):
            before = len(calls)
            logs.append(train.train_step(model, optimizers, torch.randn(16, 2), torch.zeros(16, dtype=torch.long),
                                         it, {}))
            expected = ["D", "G"] if (it + 1) % 5 == 0 else ["D"]
            assert calls[before:] == expected, (it, calls[before:])
    assert [("loss_g" in log) for log in logs] == [(it + 1) % 5 == 0 for it in range(15)]


def test_n_critic_in_losses_csv(build, tmp_path):
    with imported(build(gan_spec("wasserstein_gp", d_steps=5, name="t_ncritic"))) as train:
        rc = train.main(["--dry-run", "--quiet", "--steps", "10", "--batch-size", "4", "--out", str(tmp_path)])
    assert rc == 0
    rows = train_rows(tmp_path / "losses.csv")
    assert [r["step"] for r in rows] == [str(i) for i in range(1, 11)]
    assert [r["loss_g"] != "" for r in rows] == [i % 5 == 0 for i in range(1, 11)]
    assert all(r["loss_d"] != "" for r in rows)


# ---------------------------------------------------------------------------
# Loss-weight schedules
# ---------------------------------------------------------------------------

SCHEDULED = """model t_sched
data x: vector[6] in [0, 1]
latent z: [2] ~ normal(0, 1)
schedule beta = linear(0, 1, epochs=10)
schedule w = linear(0.5, 2, steps=100)
schedule c = cyclical(0, 1, epochs=4, cycles=2)
encoder enc(x) -> (mu: [2], logvar: [2]) {
    mu = linear(2)
    logvar = x -> linear(2)
}
decoder dec(z) -> [6] { linear(6) -> sigmoid }
forward { mu, logvar = enc(x)  z ~ normal(mu, logvar)  x_hat = dec(z) }
loss = w * mse(x_hat, x) + beta * kl(z) + 0.5 * c * l1(x_hat, x)
"""


@pytest.mark.parametrize("step, beta, w", [(0, 0.0, 0.5), (10, 0.1, 0.65), (25, 0.25, 0.875), (50, 0.5, 1.25),
                                           (99, 0.99, 1.985), (100, 1.0, 2.0), (5000, 1.0, 2.0)])
def test_linear_warm_up(build, step, beta, w):
    """10 steps an epoch: beta goes 0 -> 1 over 10 epochs (100 steps), w 0.5 -> 2 over 100 steps, then hold."""
    with imported(build(SCHEDULED)) as train:
        weights = train.loss_weights(step, 10)
    close(weights["beta"], beta)
    close(weights["w"], w)


@pytest.mark.parametrize("step, c", [(0, 0.0), (5, 0.5), (10, 1.0), (15, 1.0), (19, 1.0), (20, 0.0), (25, 0.5),
                                     (30, 1.0), (39, 1.0)])
def test_cyclical_schedule(build, step, c):
    """2 cycles over 4 epochs of 10 steps: each cycle of 20 steps ramps 0 -> 1 in its first half, holds 1
    in the second (Fu et al. 2019, R = 0.5)."""
    with imported(build(SCHEDULED)) as train:
        close(train.loss_weights(step, 10)["c"], c)


@pytest.mark.parametrize("step", [0, 7, 33, 1000])
def test_scheduled_weights_multiply_their_terms(build, step):
    with imported(build(SCHEDULED)) as train:
        weights = train.loss_weights(step, 10)
        g = torch.Generator().manual_seed(0)
        x = torch.rand(4, 6, generator=g)
        values = {"x": x, "x_hat": torch.rand(4, 6, generator=g), "mu": torch.randn(4, 2, generator=g),
                  "logvar": torch.randn(4, 2, generator=g), "z": None}
        total, terms = train.loss_terms({}, values, weights)
    close(total, weights["w"] * terms["mse"] + weights["beta"] * terms["kl"] + 0.5 * weights["c"] * terms["l1"])


def test_training_uses_the_weight_of_each_step(build, tmp_path):
    with imported(build(SCHEDULED)) as train:
        assert train.main(["--dry-run", "--quiet", "--steps", "3", "--batch-size", "4", "--out", str(tmp_path)]) == 0
        rows = train_rows(tmp_path / "losses.csv")
        spe = 4  # dry-run data: 4 batches an epoch
        for r in rows:
            weights = train.loss_weights(int(r["step"]) - 1, spe)  # the weight of the step the row reports
            loss = (weights["w"] * float(r["mse"]) + weights["beta"] * float(r["kl"])
                    + 0.5 * weights["c"] * float(r["l1"]))
            close(float(r["loss"]), loss, 1e-5)


# ---------------------------------------------------------------------------
# --amp fp16: loss scaling
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("which", ["vae", "gan", "wgan_gp"])
def test_loss_scaling_changes_no_update(build, which):
    """train_step's GradScaler path: scaling the losses by 2^10 and unscaling the gradients before each
    optimizer step is exact in float32, so the parameters after a few iterations are bit for bit those
    of the unscaled path, and the scaler did scale (its scale is the one it was given)."""
    spec = {"vae": vae_spec("normal(0, 1)", "t_amp_vae"),
            "gan": gan_spec("non_saturating", "sigmoid", name="t_amp_gan"),
            "wgan_gp": gan_spec("wasserstein_gp", d_steps=2, name="t_amp_gp")}[which]
    with imported(build(spec)) as train:
        finals = []
        for scaler in (None, torch.amp.GradScaler("cpu", init_scale=2.0 ** 10)):
            torch.manual_seed(0)
            model = train.RECIPE.model()
            optimizers = train.make_optimizers(model)
            gen = torch.Generator().manual_seed(1)
            x = torch.rand(16, 6 if which == "vae" else 2, generator=gen)
            for it in range(4):
                args = (model, optimizers, x, torch.zeros(16, dtype=torch.long), it, {})
                train.train_step(*args) if scaler is None else train.train_step(*args, scaler)
            finals.append([p.detach().clone() for p in model.parameters()])
        assert scaler.get_scale() == 2.0 ** 10  # no overflow, so no change before growth_interval
        assert scaler._scale is not None  # it was used
    for a, b in zip(*finals):
        assert torch.equal(a, b)


class RecordingEnc(torch.nn.Module):
    """An encoder that records what it is given."""

    def __init__(self, enc, seen):
        super().__init__()
        self.enc, self.seen = enc, seen

    def forward(self, inp):
        self.seen.append(inp.detach().clone())
        return self.enc(inp)
