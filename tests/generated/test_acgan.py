"""specs/acgan.gen is the ACGAN of bench/reference/acgan.py (written from PyTorch-GAN's
implementations/acgan/acgan.py): the same parameter counts and shapes, the same outputs of both
heads after copying weights (channel dropout included, under one seed), the same losses up to
acgan.py's constant factors (it halves the generator's loss and quarters the discriminator's),
labels for the generator drawn uniformly from the classes, and the same optimizer settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import training
from gendsl.driver import compile_source
from gendsl.source import SourceFile
from model_support import model_class

torch = pytest.importorskip("torch")
ROOT = Path(__file__).resolve().parents[2]
G_PARAMS = 1_050_985
D_PARAMS = 102_987


@pytest.fixture(scope="module")
def spec():
    path = ROOT / "specs" / "acgan.gen"
    result = compile_source(SourceFile("specs/acgan.gen", path.read_text(encoding="utf-8"), origin=str(path)))
    assert result.ok, [d.message for d in result.diagnostics]
    return result


@pytest.fixture(scope="module")
def generated():
    return training._load(ROOT / "generated" / "acgan" / "model.py", "acgan_fidelity_model")


@pytest.fixture(scope="module")
def reference():
    return training._load(ROOT / "bench" / "reference" / "acgan.py", "acgan_fidelity_reference")


def test_counts_and_shapes_from_the_compiler(spec, reference):
    g, d = spec.model.network("G"), spec.model.network("D")
    nets = reference.build_networks()
    assert g.param_count == G_PARAMS == sum(p.numel() for p in nets["G"].parameters())
    assert d.param_count == D_PARAMS == sum(p.numel() for p in nets["D"].parameters())
    assert g.outputs[0][1].shape == (1, 32, 32)
    assert [(name, t.shape) for name, t, _ in d.outputs] == [("validity", (1,)), ("pred_label", (10,))]
    assert spec.model.gan.aux == ("y", "y_fake")
    latent = next(lat for lat in spec.model.latents if lat.name == "y_fake")
    assert latent.prior == "categorical" and latent.type.classes == 10


def test_generated_files_are_the_goldens(spec):
    for name in ("model.py", "train.py"):
        assert spec.files[name] == (ROOT / "generated" / "acgan" / name).read_text(encoding="utf-8")


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
    mine = {"G": model.G, "D": model.D}
    for name in ("G", "D"):
        _copy(ref[name], mine[name])
        ref[name].train(mode == "train")
        mine[name].train(mode == "train")
    z, labels = torch.randn(6, 100), torch.tensor([0, 3, 9, 3, 1, 7])
    with torch.no_grad():
        fake_ref, fake = ref["G"](z, labels), mine["G"](z, labels)
        assert fake.shape == (6, 1, 32, 32)
        torch.testing.assert_close(fake, fake_ref, rtol=0, atol=0)
        torch.manual_seed(4)  # the same channels dropped in both (training mode)
        validity_ref, label_ref = ref["D"](fake_ref)
        torch.manual_seed(4)
        validity, label = mine["D"](fake)
    assert validity.shape == (6, 1) and label.shape == (6, 10)
    torch.testing.assert_close(validity, validity_ref, rtol=0, atol=0)
    torch.testing.assert_close(label, label_ref, rtol=0, atol=0)


def test_losses_are_the_reference_times_its_constant_factors(spec, tmp_path, reference):
    from train_support import compile_to, imported

    folder = compile_to(tmp_path / "acgan", spec=ROOT / "specs" / "acgan.gen")
    g = torch.Generator().manual_seed(0)
    real_pred, fake_pred = torch.rand(64, 1, generator=g), torch.rand(64, 1, generator=g)
    real_aux = torch.softmax(torch.randn(64, 10, generator=g), 1)
    fake_aux = torch.softmax(torch.randn(64, 10, generator=g), 1)
    labels, gen_labels = torch.randint(10, (64,), generator=g), torch.randint(10, (64,), generator=g)
    with imported(folder) as train:
        ours_d = (train.discriminator_loss_real(real_pred.view(-1)) + train.auxiliary_loss(real_aux, labels)
                  + train.discriminator_loss_fake(fake_pred.view(-1)) + train.auxiliary_loss(fake_aux, gen_labels))
        ours_g = train.generator_loss(fake_pred.view(-1)) + train.auxiliary_loss(fake_aux, gen_labels)
        optimizers = train.make_optimizers(train.RECIPE.model())
        assert train.RECIPE.sample_classes == 10 and train.RECIPE.num_classes == 10
    torch.testing.assert_close(
        ours_d, 4 * reference.discriminator_loss(real_pred, real_aux, labels, fake_pred, fake_aux, gen_labels))
    torch.testing.assert_close(ours_g, 2 * reference.generator_loss(fake_pred, fake_aux, gen_labels))
    for opt in optimizers.values():
        assert opt.defaults["lr"] == 2e-4 and opt.defaults["betas"] == (0.5, 0.999)


def test_generator_labels_are_drawn_uniformly_and_generate_takes_labels(generated):
    model = model_class(generated)()
    torch.manual_seed(0)
    with torch.no_grad():
        values = model(torch.zeros(4000, 1, 32, 32), torch.zeros(4000, dtype=torch.long))
        y_fake = values["y_fake"]
        assert y_fake.dtype == torch.long and y_fake.shape == (4000,)
        counts = torch.bincount(y_fake, minlength=10)
        assert len(counts) == 10 and counts.min() > 300 and counts.max() < 500  # 400 each expected
        assert not torch.equal(y_fake, values["y"])  # sampled, not the real batch's labels
        model.eval()
        (z,) = model.prior(3)
        assert z.shape == (3, 100)  # prior draws the noise; the labels are generate's condition
        assert model.generate(z, torch.tensor([1, 2, 3])).shape == (3, 1, 32, 32)


def test_sample_grid_has_one_row_per_class(tmp_path):
    """The runtime's sample grid of a model given sampled labels: row r is class r, and the
    columns are the same 8 noise draws in every row."""
    import argparse

    from gendsl.runtime import loop
    from train_support import compile_to, imported

    folder = compile_to(tmp_path / "acgan", spec=ROOT / "specs" / "acgan.gen")
    with imported(folder) as train:
        recipe = train.RECIPE
        model = recipe.model()
    seen = []
    generate = model.generate

    def recording(z, labels):
        seen.append((z.clone(), labels.clone()))
        return generate(z, labels)
    model.generate = recording
    noise = loop.fixed_noise(model, 64, 0, torch.device("cpu"))
    loop.save_samples(recipe, model, None, tmp_path / "grid.png", argparse.Namespace(no_plots=True),
                      torch.device("cpu"), noise)
    (z, labels), = seen
    assert labels.tolist() == [c for c in range(10) for _ in range(8)]
    assert torch.equal(z.view(10, 8, 100), noise[0][:8].expand(10, 8, 100))
    from PIL import Image
    assert Image.open(tmp_path / "grid.png").size == (8 * 34 + 2, 10 * 34 + 2)  # 8 columns, 10 rows


CODE_ONLY = """model coded
data x: image[1, 8, 8] in [-1, 1]
latent z: [16] ~ normal(0, 1)
latent c: label[4] ~ categorical(4)

generator G(z, c) -> [1, 8, 8] {
    code = c -> onehot
    concat(z, code) -> linear(64) -> tanh -> reshape(1, 8, 8)
}

discriminator D(x) -> [1] {
    flatten -> linear(32) -> leaky_relu(0.2) -> linear(1)
}

forward {
    z ~ prior
    c ~ prior
    fake = G(z, c)
}

loss = gan(D(x), D(fake), non_saturating)

train {
    optimizer = adam(lr=2e-4)
    batch_size = 8
    epochs = 1
}
"""


def test_sampled_labels_without_data_labels_train_and_fill_a_row_per_class(tmp_path):
    """A generator given a categorical code the data do not have (no `label` data): train.py
    runs, `sample_classes` sets the rows of the grid, and the data carry no classes."""
    from PIL import Image

    from train_support import compile_to, imported, run_python

    folder = compile_to(tmp_path / "code", text=CODE_ONLY)
    with imported(folder) as train:
        assert train.RECIPE.sample_classes == 4 and train.RECIPE.num_classes is None
    done = run_python(str(folder / "train.py"), "--dry-run", "--quiet", "--steps", "2", "--batch-size", "8",
                      "--out", str(tmp_path / "run"))
    assert done.returncode == 0, done.stderr
    (grid,) = (tmp_path / "run" / "samples").iterdir()
    assert Image.open(grid).size[1] == 4 * 10 + 2  # four rows of 8x8 images with 2-pixel padding
