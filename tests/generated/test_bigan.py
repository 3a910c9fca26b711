"""BiGAN / ALI: a `gan` term whose real side is computed by a network (tests/cases/bigan/spec.gen).

One train_step of the generated code against a hand-written PyTorch BiGAN step with the same
weights and the same noise: the discriminator's update on (x, E(x).detach()) and (G(z).detach(), z),
then the E+G update on BCE(D(x, E(x)), 0) + BCE(D(G(z), z), 1), the real side's labels swapped."""

from __future__ import annotations

from pathlib import Path

import pytest

from train_support import compile_to, imported

torch = pytest.importorskip("torch")
nn = torch.nn
F = torch.nn.functional
ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "tests" / "cases" / "bigan" / "spec.gen"
LATENT, HIDDEN, BATCH = 50, 16, 8


def _tiny() -> str:
    text = SPEC.read_text(encoding="utf-8")
    small = text.replace("param hidden = 512", f"param hidden = {HIDDEN}")
    assert small != text
    return small


def _reference(model):
    """The hand-written BiGAN's networks, PyTorch-GAN style, holding a copy of the model's weights."""
    encoder = nn.Sequential(nn.Flatten(), nn.Linear(784, HIDDEN), nn.LeakyReLU(0.2), nn.Linear(HIDDEN, HIDDEN),
                            nn.BatchNorm1d(HIDDEN), nn.LeakyReLU(0.2), nn.Linear(HIDDEN, LATENT))
    generator = nn.Sequential(nn.Linear(LATENT, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, HIDDEN),
                              nn.BatchNorm1d(HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, 784), nn.Sigmoid(),
                              nn.Unflatten(1, (1, 28, 28)))
    joint = nn.Sequential(nn.Linear(784 + LATENT, HIDDEN), nn.LeakyReLU(0.2), nn.Linear(HIDDEN, HIDDEN),
                          nn.LeakyReLU(0.2), nn.Linear(HIDDEN, 1))
    for ours, theirs in ((encoder, model.E), (generator, model.G), (joint, model.D)):
        mine = [t for t in ours.state_dict().values()]
        copied = list(theirs.state_dict().values())
        assert [t.shape for t in mine] == [t.shape for t in copied]
        ours.load_state_dict(dict(zip(ours.state_dict(), copied)))

    def discriminator(img, code):
        return joint(torch.cat([img.flatten(1), code], 1))
    return encoder, generator, joint, discriminator


def test_one_step_matches_a_hand_written_bigan(tmp_path):
    folder = compile_to(tmp_path, text=_tiny())
    with imported(folder) as train:
        torch.manual_seed(0)
        model = train.RECIPE.model()
        encoder, generator, joint, discriminator = _reference(model)
        optimizers = train.make_optimizers(model)
        assert list(optimizers) == ["E", "G", "D"]  # E is optimised, on the generator's side
        ref_d = torch.optim.Adam(joint.parameters(), lr=2e-4, betas=(0.5, 0.999))
        ref_eg = torch.optim.Adam(list(encoder.parameters()) + list(generator.parameters()), lr=2e-4,
                                  betas=(0.5, 0.999))
        x = torch.rand(BATCH, 1, 28, 28)
        # the discriminator's update must not reach E: E's weights get exactly one gradient (the E+G update)
        reached = []
        model.E.fc1.weight.register_hook(lambda g: reached.append(g))
        torch.manual_seed(1)
        log = train.train_step(model, optimizers, x, None, 0, {})
        assert len(reached) == 1

        # the hand-written step, with the same noise: z is drawn after E(x), as `forward` does
        torch.manual_seed(1)
        code = encoder(x)
        z = -1.0 + 2.0 * torch.rand(BATCH, LATENT)
        fake = generator(z)
        ref_d.zero_grad()
        d_real, d_fake = discriminator(x, code.detach()), discriminator(fake.detach(), z)
        loss_d = (F.binary_cross_entropy_with_logits(d_real, torch.ones_like(d_real))
                  + F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake)))
        loss_d.backward()
        ref_d.step()
        d_grads = [p.grad.clone() for p in joint.parameters()]
        joint.requires_grad_(False)
        ref_eg.zero_grad()
        d_real, d_fake = discriminator(x, code), discriminator(fake, z)
        loss_eg = (F.binary_cross_entropy_with_logits(d_real, torch.zeros_like(d_real))   # E: real judged fake
                   + F.binary_cross_entropy_with_logits(d_fake, torch.ones_like(d_fake)))  # G: fake judged real
        loss_eg.backward()
        ref_eg.step()

    assert log["loss_d"] == pytest.approx(loss_d.item(), rel=1e-5)
    assert log["loss_g"] == pytest.approx(loss_eg.item(), rel=1e-5)
    # D's gradients (from its update: D is frozen in the E+G one), then E's and G's
    for ours, theirs in zip(d_grads, model.D.parameters()):
        torch.testing.assert_close(theirs.grad, ours, rtol=1e-4, atol=1e-6)
    for ours, theirs in ((encoder, model.E), (generator, model.G), (joint, model.D)):
        for p, q in zip(ours.parameters(), theirs.parameters()):
            if p.grad is not None and ours is not joint:
                torch.testing.assert_close(q.grad, p.grad, rtol=1e-4, atol=1e-6)
            torch.testing.assert_close(q.detach(), p.detach(), rtol=1e-5, atol=1e-6)
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.E.parameters())


@pytest.mark.parametrize("kind, expected", [
    ("minimax", lambda s: -F.binary_cross_entropy_with_logits(s, torch.ones_like(s))),
    ("non_saturating", lambda s: F.binary_cross_entropy_with_logits(s, torch.zeros_like(s))),
    ("least_squares", lambda s: 0.5 * s.pow(2).mean()),
    ("wasserstein", lambda s: s.mean()),
    ("hinge", lambda s: s.mean()),
])
def test_the_real_side_loss_of_each_objective(tmp_path, kind, expected):
    """Each objective's generator-side loss on the real pair: the real half with its labels swapped
    (docs/language.md's table); E's gradient is that of the discriminator's real half, reversed in
    sign for the zero-sum objectives (minimax, wasserstein)."""
    text = _tiny().replace("non_saturating)", f"{kind})")
    folder = compile_to(tmp_path, text=text)
    s = torch.tensor([-1.5, 0.25, 2.0])
    with imported(folder) as train:
        torch.testing.assert_close(train.generator_loss_real(s), expected(s))
        if kind in ("minimax", "wasserstein"):
            torch.testing.assert_close(train.generator_loss_real(s), -train.discriminator_loss_real(s))
        torch.manual_seed(0)
        model = train.RECIPE.model()
        log = train.train_step(model, train.make_optimizers(model), torch.rand(BATCH, 1, 28, 28), None, 0, {})
        assert set(log) == {"loss_d", "d_real", "d_fake", "loss_g"}
        assert all(p.grad is not None for p in model.E.parameters())


def test_weighted_bigan_scales_both_halves(tmp_path):
    """A weight scales the generator side's whole loss, its real half included."""
    folder = compile_to(tmp_path, text=_tiny().replace("loss = gan(", "loss = 0.5 * gan("))
    with imported(folder) as train:
        torch.manual_seed(0)
        model = train.RECIPE.model()
        x = torch.rand(BATCH, 1, 28, 28)
        torch.manual_seed(1)
        row = train.validate(model, x, None, {})
        torch.manual_seed(1)
        values = model(x)
        d_real = model.D(x, values["code"]).view(-1)
        d_fake = model.D(values["fake"], values["z"]).view(-1)
        expected = 0.5 * (F.binary_cross_entropy_with_logits(d_real, torch.zeros_like(d_real))
                          + F.binary_cross_entropy_with_logits(d_fake, torch.ones_like(d_fake)))
    assert row["loss_g"] == pytest.approx(expected.item(), rel=1e-5)


def test_bigan_beside_a_second_critic_with_its_own_steps(tmp_path):
    """A BiGAN term beside an image critic (several adversarial terms, `d_steps`): on the first of
    two iterations only the critics update (the encoder's code detached); on the second E and G
    too, their loss the weighted sum of both terms' generator sides."""
    text = _tiny().replace("""discriminator D(""", """critic Dx(img: image[1, 28, 28]) -> [1] {
    flatten -> linear(16) -> leaky_relu(0.2) -> linear(1)
}

discriminator D(""").replace("loss = gan(D(x, code), D(fake, z), non_saturating)",
                             "loss = gan(D(x, code), D(fake, z), least_squares) + 0.1 * gan(Dx(x), Dx(fake), hinge)")
    text = text.replace("    epochs = 100\n", "    epochs = 100\n    d_steps Dx = 2\n")
    folder = compile_to(tmp_path, text=text)
    with imported(folder) as train:
        torch.manual_seed(0)
        model = train.RECIPE.model()
        optimizers = train.make_optimizers(model)
        x = torch.rand(BATCH, 1, 28, 28)
        before = {k: v.clone() for k, v in model.named_parameters()}
        log = train.train_step(model, optimizers, x, None, 0, {})
        changed = {k.split(".")[0] for k, v in model.named_parameters() if not torch.equal(v, before[k])}
        assert changed == {"Dx"} and set(log) == {"loss_d_Dx", "d_real_Dx", "d_fake_Dx"}
        before = {k: v.clone() for k, v in model.named_parameters()}
        log = train.train_step(model, optimizers, x, None, 1, {})
        changed = {k.split(".")[0] for k, v in model.named_parameters() if not torch.equal(v, before[k])}
        assert changed == {"E", "G", "D", "Dx"} and "loss_g" in log
        model.eval()
        torch.manual_seed(2)
        row = train.validate(model, x, None, {})
        torch.manual_seed(2)
        values = model(x)
        d_real = model.D(x, values["code"]).view(-1)
        d_fake = model.D(values["fake"], values["z"]).view(-1)
        expected = 0.5 * d_real.pow(2).mean() + 0.5 * (d_fake - 1).pow(2).mean() \
            - 0.1 * model.Dx(values["fake"]).mean()
    assert row["loss_g"] == pytest.approx(expected.item(), rel=1e-5)
