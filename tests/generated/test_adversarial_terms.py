"""Adversarial terms between any two distributions: a discriminator on codes (real codes drawn from
the prior), weighted `gan` terms (the weight scales the generator's side only), and several
adversarial terms in one model, each with its own discriminator, objective, optimizer and d_steps
(tests/cases/aae_image_critic/spec.gen)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from train_support import assert_finite, compile_to, imported, one_thread  # noqa: F401

torch = pytest.importorskip("torch")
ROOT = Path(__file__).resolve().parents[2]
TWO = ROOT / "tests" / "cases" / "aae_image_critic" / "spec.gen"


def _one_step(folder: Path, iteration: int = 0):
    """The networks' parameters before and after one train_step of a freshly built model (seed 0)."""
    with imported(folder) as train:
        torch.manual_seed(0)
        model = train.RECIPE.model()
        optimizers = train.make_optimizers(model)
        before = copy.deepcopy(model.state_dict())
        x = torch.rand(16, 1, 28, 28) * 2 - 1
        weights = train.loss_weights(1000, 10) if hasattr(train, "loss_weights") else {}
        log = train.train_step(model, optimizers, x, None, iteration, weights)
        after = model.state_dict()
    changed = {k.split(".")[0] for k in before if not torch.equal(before[k], after[k])}
    return changed, after, log


def test_the_weight_scales_the_generator_side_only(tmp_path):
    """aae.gen with its adversarial weight 0.001, and the same with 0.5: one step from the same
    seed moves the discriminator identically (its loss is not weighted) and the encoder
    differently (its loss is 0.001 or 0.5 times the adversarial term, plus the L1 term)."""
    text = (ROOT / "specs" / "aae.gen").read_text(encoding="utf-8")
    heavy = text.replace("0.001 * gan(", "0.5 * gan(")
    assert heavy != text
    changed_a, a, log_a = _one_step(compile_to(tmp_path / "a", text=text))
    changed_b, b, log_b = _one_step(compile_to(tmp_path / "b", text=heavy))
    assert changed_a == changed_b == {"enc", "dec", "Dz"}
    for key in a:
        if key.startswith("Dz."):
            assert torch.equal(a[key], b[key]), key
    assert not torch.equal(a["enc.mu.weight"], b["enc.mu.weight"])
    assert log_a["loss_d"] == log_b["loss_d"] and log_a["l1"] == log_b["l1"]
    assert log_a["loss_g"] < log_b["loss_g"]


def test_two_adversarial_terms_each_with_its_own_steps(tmp_path):
    folder = compile_to(tmp_path, TWO)
    # `d_steps Dx = 2`: D_STEPS is 2; Dx updates every iteration, Dz (d_steps 1) on the second of
    # each two, the encoder and decoder on the second too
    changed, _, log = _one_step(folder, iteration=0)
    assert changed == {"Dx"}
    assert set(log) == {"loss_d_Dx", "d_real_Dx", "d_fake_Dx", "r1_penalty_Dx"}
    changed, _, log = _one_step(folder, iteration=1)
    assert changed == {"Dx", "Dz", "enc", "dec"}
    assert {"loss_d", "d_real", "d_fake", "loss_d_Dx", "loss_g", "l1"} <= set(log)
    with imported(folder) as train:
        assert train.D_STEPS == 2
        optimizers = train.make_optimizers(train.RECIPE.model())
        assert list(optimizers) == ["enc", "dec", "Dz", "Dx"]
        # `optimizer Dx = ...` wins over the general `optimizer = ...` for Dx
        assert optimizers["Dx"].defaults["betas"] == (0.0, 0.9) and optimizers["Dz"].defaults["betas"] == (0.5, 0.999)
        # each term's objective: non-saturating BCE for Dz (ends in sigmoid), hinge for Dx
        s = torch.tensor([0.5, 2.0])
        torch.testing.assert_close(train.generator_loss_Dx(s), -s.mean())
        torch.testing.assert_close(train.discriminator_loss_real_Dx(s), torch.relu(1 - s).mean())


def test_two_adversarial_terms_train_through_train_py(tmp_path):
    folder = compile_to(tmp_path, TWO)
    out = tmp_path / "run"
    with imported(folder) as train:
        rc = train.main(["--dry-run", "--quiet", "--batch-size", "8", "--steps", "4", "--out", str(out)])
    assert rc == 0
    rows = assert_finite(out / "losses.csv")
    train_rows = [r for r in rows if r["split"] == "train"]
    assert [bool(r["loss_g"]) for r in train_rows] == [False, True, False, True]
    assert all(r["loss_d_Dx"] and r["r1_penalty_Dx"] for r in train_rows)
    assert [bool(r["loss_d"]) for r in train_rows] == [False, True, False, True]
    val = [r for r in rows if r["split"] == "val"][-1]
    assert all(val[k] for k in ("loss_d", "loss_d_Dx", "loss_g", "l1"))
    assert (out / "checkpoints" / "last.pt").is_file()
