"""specs/aae.gen is the adversarial autoencoder of bench/reference/aae.py (written from
PyTorch-GAN's implementations/aae/aae.py): the same parameter counts and shapes, the same initial
parameters under one seed, the same codes, reconstructions and scores after copying weights, the
same generator loss (0.001 * adversarial + 0.999 * L1), a discriminator loss twice the reference's
(the sum of the two halves, where aae.py takes their mean), and the same optimizer settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import training
from gendsl.driver import compile_source
from gendsl.source import SourceFile
from model_support import model_class

torch = pytest.importorskip("torch")
ROOT = Path(__file__).resolve().parents[2]
ENC_PARAMS = 675_860
DEC_PARAMS = 671_504
DZ_PARAMS = 137_217


@pytest.fixture(scope="module")
def spec():
    path = ROOT / "specs" / "aae.gen"
    result = compile_source(SourceFile("specs/aae.gen", path.read_text(encoding="utf-8"), origin=str(path)))
    assert result.ok, [d.message for d in result.diagnostics]
    return result


@pytest.fixture(scope="module")
def generated():
    return training._load(ROOT / "generated" / "aae" / "model.py", "aae_fidelity_model")


@pytest.fixture(scope="module")
def reference():
    return training._load(ROOT / "bench" / "reference" / "aae.py", "aae_fidelity_reference")


def test_counts_and_shapes_from_the_compiler(spec, reference):
    nets = reference.build_networks()
    for name, count in (("enc", ENC_PARAMS), ("dec", DEC_PARAMS), ("Dz", DZ_PARAMS)):
        assert spec.model.network(name).param_count == count == sum(p.numel() for p in nets[name].parameters())
    assert spec.model.network("Dz").inputs[0][1].shape == (10,)  # a discriminator on codes, not on the data
    assert spec.model.network("dec").outputs[0][1].shape == (1, 28, 28)
    (gan,) = spec.model.gans
    assert (gan.discriminator, gan.real_args, gan.fake_args, gan.kind) == ("Dz", ["z_prior"], ["z"], "non_saturating")
    assert gan.weight.constant == 0.001 and gan.probabilities
    assert [(t.kind, t.weight.constant) for t in spec.model.terms] == [("l1", 0.999)]


def test_generated_files_are_the_goldens(spec):
    for name in ("model.py", "train.py"):
        assert spec.files[name] == (ROOT / "generated" / "aae" / name).read_text(encoding="utf-8")


def test_same_initial_parameters_as_the_reference():
    result = training.same_initial_parameters("aae")
    assert result["equal"], result["mismatch"]
    assert result["values"] > ENC_PARAMS + DEC_PARAMS + DZ_PARAMS  # batchnorm statistics too


def _copy(source, target):
    """Every parameter and buffer of `source` into `target`, by creation order (names differ)."""
    a, b = list(source.state_dict().values()), target.state_dict()
    assert len(a) == len(b)
    target.load_state_dict(dict(zip(b, a)))


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_same_outputs_after_copying_weights(generated, reference, mode):
    torch.manual_seed(3)
    ref = reference.build_networks()
    model = model_class(generated)()
    for name in ("enc", "dec", "Dz"):
        _copy(ref[name], getattr(model, name))
    model.train(mode == "train")
    for net in ref.values():
        net.train(mode == "train")
    x = torch.rand(6, 1, 28, 28) * 2 - 1
    with torch.no_grad():
        torch.manual_seed(5)
        z_ref = ref["enc"](x)
        x_hat_ref = ref["dec"](z_ref)
        torch.manual_seed(5)
        values = model(x)  # draws the reparameterisation's noise first, as the reference
        assert values["z"].shape == (6, 10) and values["x_hat"].shape == (6, 1, 28, 28)
        torch.testing.assert_close(values["z"], z_ref, rtol=0, atol=0)
        torch.testing.assert_close(values["x_hat"], x_hat_ref, rtol=0, atol=0)
        torch.testing.assert_close(model.Dz(values["z"]), ref["Dz"](z_ref), rtol=0, atol=0)
        assert model.Dz(values["z_prior"]).shape == (6, 1)


def test_same_losses_and_optimizers(spec, tmp_path, reference):
    from train_support import compile_to, imported

    folder = compile_to(tmp_path / "aae", spec=ROOT / "specs" / "aae.gen")
    with imported(folder) as train:
        model = train.RECIPE.model()
        torch.manual_seed(0)
        x = torch.rand(8, 1, 28, 28) * 2 - 1
        values = model(x)
        d_real, d_fake = model.Dz(values["z_prior"]).view(-1), model.Dz(values["z"]).view(-1)
        # the generator side: the weighted adversarial term plus the weighted L1 term, as aae.py's g_loss
        extra, _ = train.loss_terms(model, values, {})
        ours = 0.001 * train.generator_loss(d_fake) + extra
        theirs = reference.generator_loss(d_fake.view(-1, 1), values["x_hat"], x)
        torch.testing.assert_close(ours, theirs)
        # the discriminator side is not weighted: the sum of the halves, twice aae.py's mean of them
        ours_d = train.discriminator_loss_real(d_real) + train.discriminator_loss_fake(d_fake)
        torch.testing.assert_close(ours_d, 2 * reference.discriminator_loss(d_real, d_fake))
        optimizers = train.make_optimizers(model)
    assert set(optimizers) == {"enc", "dec", "Dz"}
    for opt in optimizers.values():
        assert opt.defaults["lr"] == 2e-4 and opt.defaults["betas"] == (0.5, 0.999)


def test_the_reference_trains_a_few_steps(reference, tmp_path):
    assert reference.main(["--steps", "3", "--batch-size", "8", "--data", "fake", "--out", str(tmp_path)]) == 0
    rows = (tmp_path / "losses.csv").read_text().splitlines()
    assert rows[0] == "step,loss_d,loss_g" and len(rows) == 4


def test_the_posterior_measurement_reads_a_run(tmp_path, capsys):
    import json

    from bench import aae_posterior
    from train_support import compile_to, imported

    folder = compile_to(tmp_path / "gen", spec=ROOT / "specs" / "aae.gen")
    out = tmp_path / "run"
    with imported(folder) as train:
        assert train.main(["--quiet", "--steps", "2", "--batch-size", "8", "--n", "64", "--no-plots", "--no-report",
                           "--no-quality", "--out", str(out)]) == 0
    assert aae_posterior.main([str(out), "--spec-folder", str(folder)]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert len(rows) == 2
    for row in rows.values():
        assert 0 <= row["mmd2_prior_vs_prior"] < 0.01 and row["mmd2"] > row["mmd2_prior_vs_prior"] - 0.01
        assert row["l1"] > 0 and row["mean_variance"] >= 0
