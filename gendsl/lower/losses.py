"""The loss-term and GAN-objective tables: each construct's torch code, in one entry.

The checker's side of each entry (arguments, shapes, options) is in gendsl/check/loss.py;
tests/test_tables.py checks that both sides name the same constructs.
"""

from __future__ import annotations

from typing import Callable

from gendsl.check.result import CheckedModel, Term
from gendsl.lower import analysis
from gendsl.lower.layers import lit

TORCH_LOSS = {"mse": "F.mse_loss", "l1": "F.l1_loss", "bce": "F.binary_cross_entropy",
              "bce_logits": "F.binary_cross_entropy_with_logits", "cross_entropy": "F.cross_entropy"}

# Functions train.py defines when a term needs them: name -> source.
HELPERS = {
    "kl_to_standard_normal": '''def kl_to_standard_normal(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, sigma^2) || N(0, I)) in closed form, summed over latent units, averaged over
    the batch."""
    return -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp()) / mu.size(0)''',
    "kl_to_normal": '''def kl_to_normal(mu: torch.Tensor, logvar: torch.Tensor, mean: float,
                 std: float) -> torch.Tensor:
    """KL(N(mu, sigma^2) || N(mean, std^2)) in closed form, summed over latent units, averaged over
    the batch."""
    kl = math.log(std) - 0.5 * logvar + (logvar.exp() + (mu - mean).pow(2)) / (2 * std**2) - 0.5
    return kl.sum() / mu.size(0)''',
    "l1_activity": '''def l1_activity(h: torch.Tensor) -> torch.Tensor:
    """L1 activity penalty: sum of |h| over units, averaged over the batch."""
    return h.abs().flatten(1).sum(1).mean()''',
    "kl_sparsity": '''def kl_sparsity(h: torch.Tensor, rho: float) -> torch.Tensor:
    """sum_j KL(rho || rho_hat_j), rho_hat_j the mean activation of unit j over the batch
    (activations in (0, 1))."""
    rho_hat = h.flatten(1).mean(0).clamp(1e-6, 1 - 1e-6)
    return torch.sum(rho * torch.log(rho / rho_hat)
                     + (1 - rho) * torch.log((1 - rho) / (1 - rho_hat)))''',
    "contractive_penalty": '''def contractive_penalty(code: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Squared Frobenius norm of the Jacobian d code / d x, per sample, averaged over the batch.

    Exact: one backward pass per code unit. Samples are independent (no batch
    statistics in between), so the gradient of a unit summed over the batch
    holds each sample's own Jacobian row.
    """
    flat = code.flatten(1)
    total = code.new_zeros(())
    for j in range(flat.size(1)):
        (row,) = torch.autograd.grad(flat[:, j].sum(), x, create_graph=True)
        total = total + row.pow(2).sum()
    return total / x.size(0)''',
    "gradient_penalty": '''def gradient_penalty(critic, real: torch.Tensor, fake: torch.Tensor,
                     *rest: torch.Tensor) -> torch.Tensor:
    """E[(||grad C(x_hat)||_2 - 1)^2] at random points x_hat between real and fake samples."""
    eps = torch.rand(real.size(0), *([1] * (real.dim() - 1)), device=real.device)
    # in float32 under --amp: a gradient norm
    with torch.autocast(real.device.type, enabled=False):
        mixed = (eps * real.float() + (1 - eps) * fake.float()).requires_grad_(True)
        scores = critic(mixed, *rest)
        (grad,) = torch.autograd.grad(scores.sum(), mixed, create_graph=True)
        return (grad.flatten(1).norm(2, dim=1) - 1).pow(2).mean()''',
    "gradient_norm_penalty": '''def gradient_norm_penalty(discriminator, samples: torch.Tensor,
                          *rest: torch.Tensor) -> torch.Tensor:
    """E[||grad D(x)||_2^2] at the given samples: R1 on real data, R2 on generated samples
    (Mescheder et al., 2018); of each sample's mean score where D returns a map of scores."""
    # in float32 under --amp: a gradient norm
    with torch.autocast(samples.device.type, enabled=False):
        samples = samples.detach().float().requires_grad_(True)
        scores = discriminator(samples, *rest).flatten(1).mean(1)
        (grad,) = torch.autograd.grad(scores.sum(), samples, create_graph=True)
        return grad.flatten(1).pow(2).sum(1).mean()''',
    "update_ema": '''@torch.no_grad()
def update_ema(average: torch.nn.Module, network: torch.nn.Module, decay: float) -> None:
    """average <- decay * average + (1 - decay) * network, parameter by parameter; buffers
    (batchnorm statistics, spectral-norm vectors) are copied."""
    for a, p in zip(average.parameters(), network.parameters()):
        a.lerp_(p, 1.0 - decay)
    for a, b in zip(average.buffers(), network.buffers()):
        a.copy_(b)''',
}


def contractive_helper(activation: str) -> tuple[str, str]:
    derivative, form = analysis.DERIVATIVES[activation]
    name = f"contractive_{activation}"
    return name, f'''def {name}(code: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Squared Frobenius norm of the Jacobian of code = {form} w.r.t. x, per sample,
    averaged.

    Exact in closed form: J = diag(h') W, so ||J||_F^2 = sum_j h'_j^2 ||W_j||^2
    (Rifai et al., 2011).
    """
    slope = {derivative}
    return (slope.pow(2) * weight.pow(2).sum(1)).sum(1).mean()'''


def _reconstruction(model, term, attrs, batch):
    fn, a = TORCH_LOSS[term.kind], term.args
    if term.options.get("reduction") == "sum":
        return f"{fn}({a[0]}, {a[1]}, reduction=\"sum\") / {batch}", ()
    return f"{fn}({a[0]}, {a[1]})", ()


def _kl(model, term, attrs, batch):
    mean, std = term.options["prior"]
    mu, logvar = term.options["mu"], term.options["logvar"]
    if (mean, std) == (0.0, 1.0):
        return f"kl_to_standard_normal({mu}, {logvar})", ("kl_to_standard_normal",)
    return f"kl_to_normal({mu}, {logvar}, {lit(mean)}, {lit(std)})", ("kl_to_normal",)


def _contractive(model, term, attrs, batch):
    closed = analysis.one_layer(model, term)
    a = term.args
    if closed is not None:
        name, _ = contractive_helper(closed.activation)
        net = model.network(closed.network)
        attr = attrs[closed.network][net.layers.index(closed.layer)]
        return f"{name}({a[0]}, model.{closed.network}.{attr}.weight)", (name,)
    return f"contractive_penalty({a[0]}, {a[1]})", ("contractive_penalty",)


def _perceptual(model, term, attrs, batch):
    net, a = term.options["features"], term.args
    if term.options.get("reduction", "mean") == "sum":
        return f"F.mse_loss(model.{net}({a[0]}), model.{net}({a[1]}), reduction=\"sum\") / {batch}", ()
    return f"F.mse_loss(model.{net}({a[0]}), model.{net}({a[1]}))", ()


# kind -> (model, term, layer attributes per network, batch-size expression) -> (code, helpers it calls)
TERMS: dict[str, Callable] = {
    "mse": _reconstruction, "l1": _reconstruction, "bce": _reconstruction, "bce_logits": _reconstruction,
    "cross_entropy": _reconstruction,
    "kl": _kl,
    "l1_activity": lambda model, term, attrs, batch: (f"l1_activity({term.args[0]})", ("l1_activity",)),
    "kl_sparsity": lambda model, term, attrs, batch: (
        f"kl_sparsity({term.args[0]}, rho={lit(term.options['rho'])})", ("kl_sparsity",)),
    "contractive": _contractive,
    "perceptual": _perceptual,
}


def term_code(model: CheckedModel, term: Term, attrs: dict) -> tuple[str, tuple[str, ...]]:
    return TERMS[term.kind](model, term, attrs, f"{model.x.name}.size(0)")


def helper_text(name: str) -> str:
    if name.startswith("contractive_") and name != "contractive_penalty":
        return contractive_helper(name[len("contractive_"):])[1]
    return HELPERS[name]


# GAN objectives: kind -> {part: (docstring, expression)}; `{p}` is "" on probabilities, "_with_logits"
# on logits. Parts: the discriminator's loss on both batches, its real and generated halves (summed
# after two backward passes), and the generator's loss.
_BCE = "F.binary_cross_entropy{p}"
WASSERSTEIN = {
    "both": ("Wasserstein critic loss: E[C(fake)] - E[C(real)].", "d_fake.mean() - d_real.mean()"),
    "real": ("The real half of the Wasserstein critic loss E[C(fake)] - E[C(real)].", "-d_real.mean()"),
    "fake": ("The generated half of the Wasserstein critic loss: E[C(G(z))].", "d_fake.mean()"),
    "generator": ("Wasserstein generator loss: -E[C(G(z))].", "-d_fake.mean()"),
}
STANDARD = {
    "both": ("-E[log D(x)] - E[log(1 - D(G(z)))], on {on}.",
             f"({_BCE}(d_real, torch.ones_like(d_real))\n            + {_BCE}(d_fake, torch.zeros_like(d_fake)))"),
    "real": ("-E[log D(x)], on {on}.", f"{_BCE}(d_real, torch.ones_like(d_real))"),
    "fake": ("-E[log(1 - D(G(z)))], on {on}.", f"{_BCE}(d_fake, torch.zeros_like(d_fake))"),
}
GAN_OBJECTIVES = {
    "wasserstein": WASSERSTEIN,
    "wasserstein_gp": WASSERSTEIN,
    "least_squares": {
        "both": ("Least-squares discriminator loss: 1/2 E[(D(x) - 1)^2] + 1/2 E[D(G(z))^2].",
                 "0.5 * (d_real - 1).pow(2).mean() + 0.5 * d_fake.pow(2).mean()"),
        "real": ("The real half of the least-squares loss: 1/2 E[(D(x) - 1)^2].", "0.5 * (d_real - 1).pow(2).mean()"),
        "fake": ("The generated half of the least-squares loss: 1/2 E[D(G(z))^2].", "0.5 * d_fake.pow(2).mean()"),
        "generator": ("Least-squares generator loss: 1/2 E[(D(G(z)) - 1)^2].", "0.5 * (d_fake - 1).pow(2).mean()"),
    },
    "minimax": {**STANDARD, "generator": ("Minimax (saturating) generator loss: E[log(1 - D(G(z)))].",
                                          f"-{_BCE}(d_fake, torch.zeros_like(d_fake))")},
    "non_saturating": {**STANDARD, "generator": ("Non-saturating generator loss: -E[log D(G(z))].",
                                                 f"{_BCE}(d_fake, torch.ones_like(d_fake))")},
    "hinge": {
        "both": ("Hinge discriminator loss: E[max(0, 1 - D(x))] + E[max(0, 1 + D(G(z)))].",
                 "F.relu(1 - d_real).mean() + F.relu(1 + d_fake).mean()"),
        "real": ("The real half of the hinge loss: E[max(0, 1 - D(x))].", "F.relu(1 - d_real).mean()"),
        "fake": ("The generated half of the hinge loss: E[max(0, 1 + D(G(z)))].", "F.relu(1 + d_fake).mean()"),
        "generator": ("Hinge generator loss: -E[D(G(z))].", "-d_fake.mean()"),
    },
    "max_likelihood": {**STANDARD, "generator": ("Maximum-likelihood generator loss: -1/2 E[exp(logit(D(G(z))))].",
                                                 "{ml}")},
}

# A real side computed by a network (BiGAN/ALI, Donahue et al. 2017; Dumoulin et al. 2017): that network (the
# encoder) is on the generator's side and minimises the real half with its labels swapped, as the generator does
# the generated half; the zero-sum kinds (minimax, Wasserstein) the negated real half. kind -> (docstring, expr)
REAL_SIDE = {
    "minimax": ("Minimax loss of the real side's encoder: E[log D(real)], the real half negated.",
                f"-{_BCE}(d_real, torch.ones_like(d_real))"),
    "non_saturating": ("Non-saturating loss of the real side's encoder: -E[log(1 - D(real))].",
                       f"{_BCE}(d_real, torch.zeros_like(d_real))"),
    "least_squares": ("Least-squares loss of the real side's encoder: 1/2 E[D(real)^2].",
                      "0.5 * d_real.pow(2).mean()"),
    "wasserstein": ("Wasserstein loss of the real side's encoder: E[C(real)].", "d_real.mean()"),
    "hinge": ("Hinge loss of the real side's encoder: E[D(real)].", "d_real.mean()"),
}

# the discriminator's loss (both halves) under which it has won: a whole epoch under it is reported
# as dominance. BCE objectives sum to 2 ln 2 = 1.39 at equilibrium, least squares to 0.25, hinge to 2;
# Wasserstein critic losses are unbounded (no floor).
DOMINATED_BELOW = {"minimax": 0.1, "non_saturating": 0.1, "max_likelihood": 0.1, "least_squares": 0.01,
                   "hinge": 0.1}  # hinge: 2 at equilibrium (scores 0), 0 once every score is past its margin


# `gan(..., aux=(y, y_fake))`: the auxiliary classifier's term, added to the discriminator's loss on
# both batches and to the generator's on the generated one (ACGAN, Odena et al. 2017)
AUXILIARY_LOSS = ('def auxiliary_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:\n'
                  '    """The auxiliary classifier\'s loss: cross-entropy of the discriminator\'s class head, '
                  'taken\n    as logits, against the labels the batch was made with (ACGAN)."""\n'
                  '    return F.cross_entropy(logits, labels)')


def objective_functions(kind: str, probabilities: bool, gp: bool, suffix: str = "") -> tuple[str, ...]:
    """The source of the objective's functions: discriminator_loss (or its two halves) and generator_loss,
    each name followed by `suffix` (a second objective of another kind in the same model)."""
    table = GAN_OBJECTIVES[kind]
    p = "" if probabilities else "_with_logits"
    on = "probabilities" if probabilities else "logits"
    ml = ("-0.5 * torch.exp(torch.logit(d_fake, eps=1e-6)).mean()" if probabilities
          else "-0.5 * torch.exp(d_fake).mean()")

    def fn(name, params, part):
        doc, expr = table[part]
        return (f"def {name}{suffix}({params}) -> torch.Tensor:\n    \"\"\"{doc.format(on=on)}\"\"\"\n"
                f"    return {expr.format(p=p, ml=ml)}")
    parts = [fn("discriminator_loss", "d_real: torch.Tensor, d_fake: torch.Tensor", "both")] if gp else [
        fn("discriminator_loss_real", "d_real: torch.Tensor", "real"),
        fn("discriminator_loss_fake", "d_fake: torch.Tensor", "fake")]
    return (*parts, fn("generator_loss", "d_fake: torch.Tensor", "generator"))


def real_side_function(kind: str, probabilities: bool, suffix: str = "") -> str:
    """The source of `generator_loss_real`: the generator side's loss on a real side computed by a network."""
    doc, expr = REAL_SIDE[kind]
    p = "" if probabilities else "_with_logits"
    return (f"def generator_loss_real{suffix}(d_real: torch.Tensor) -> torch.Tensor:\n"
            f"    \"\"\"{doc}\"\"\"\n    return {expr.format(p=p)}")
