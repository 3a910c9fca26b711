"""FID, KID and precision/recall (gendsl/runtime/image_metrics.py), through torch-fidelity, on tiny
data: in the digit classifier's feature space (scikit-learn's 8x8 digits, a classifier trained for
a few hundred steps) and in Inception's, with randomly initialised Inception weights (the real ones
are a download this machine cannot make; tests/test_train_quality.py checks that a run without
them says so once and goes on).
"""

import math
from unittest import mock

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")
pytest.importorskip("torch_fidelity")

from gendsl.runtime import digit_quality as dq  # noqa: E402
from gendsl.runtime import image_metrics as im  # noqa: E402


@pytest.fixture(scope="module")
def quality(tmp_path_factory):
    torch.set_num_threads(1)
    return dq.digit_quality("digits", tmp_path_factory.mktemp("root"),
                            settings=dq.ClassifierSettings(steps=250))


def random_inception_weights(path):
    """A state dict of torch-fidelity's Inception network with its random initial weights."""
    import torch_fidelity.feature_extractor_inceptionv3 as fe
    torch.manual_seed(0)
    with mock.patch.object(fe, "load_state_dict_from_url", lambda *a, **k: {}), \
            mock.patch.object(fe.FeatureExtractorInceptionV3, "load_state_dict", lambda self, state: None):
        net = fe.FeatureExtractorInceptionV3(im.INCEPTION, ["2048"])
    torch.save(net.state_dict(), path)
    return path


@pytest.fixture(scope="session")
def inception_weights(tmp_path_factory):
    return random_inception_weights(tmp_path_factory.mktemp("inception") / "weights.pth")


# ---------------------------------------------------------------------------
# The digit classifier's feature space
# ---------------------------------------------------------------------------

def test_classifier_space_real_images_score_close_and_constant_images_far(quality):
    train_x = quality._train_x[:400]
    real = quality.score(train_x * 2 - 1, (-1, 1))
    constant = quality.score(torch.zeros(400, 1, 8, 8), (-1, 1))
    assert {"classifier_kid", "classifier_precision", "classifier_recall"} <= set(real)
    assert real["classifier_kid"] < constant["classifier_kid"] / 10
    assert real["classifier_precision"] > 0.5 and real["classifier_recall"] > 0.5
    # every constant sample has one feature vector: its 3-NN ball has radius 0, covering no real image
    assert constant["classifier_recall"] == 0.0
    reference = quality.reference()
    assert reference["real_classifier_kid"] < constant["classifier_kid"] / 10
    assert reference["real_classifier_recall"] > 0.5


def test_fid_by_torch_fidelity_is_digit_quality_frechet_distance():
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(300, 16, generator=gen, dtype=torch.float64)
    mix = torch.randn(16, 16, generator=gen, dtype=torch.float64)
    b = 0.5 + 1.5 * torch.randn(200, 16, generator=gen, dtype=torch.float64) @ mix
    assert im.fid(a, b) == pytest.approx(dq.frechet_distance(a, b), rel=1e-6)
    assert im.fid(a, a) == pytest.approx(0.0, abs=1e-6)


# ---------------------------------------------------------------------------
# KID and precision/recall
# ---------------------------------------------------------------------------

def cubic(a, b):
    return (a @ b.T / a.shape[1] + 1) ** 3


def test_kid_is_the_unbiased_squared_mmd_with_the_cubic_polynomial_kernel():
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(6, 4, generator=gen, dtype=torch.float64)
    y = 0.3 + torch.randn(6, 4, generator=gen, dtype=torch.float64)
    m = len(x)
    off = ~torch.eye(m, dtype=torch.bool)
    expected = (cubic(x, x)[off].sum() + cubic(y, y)[off].sum()) / (m * (m - 1)) - 2 * cubic(x, y).sum() / m**2
    # a subset of all six rows is the whole set (in another order): every subset gives the same MMD
    mean, std = im.kid(x, y)
    assert mean == pytest.approx(expected.item(), rel=1e-9)
    assert std == pytest.approx(0.0, abs=1e-12)


def test_kid_of_two_samples_of_one_distribution_averages_near_zero_and_goes_negative():
    same, shifted = [], []
    for seed in range(20):
        gen = torch.Generator().manual_seed(seed)
        a, b = (torch.randn(100, 8, generator=gen, dtype=torch.float64) for _ in range(2))
        same.append(im.kid(a, b)[0])
        shifted.append(im.kid(a, b + 0.5)[0])
    assert min(same) < 0 < max(same)  # unbiased: no floor at zero, unlike the biased estimator
    assert abs(sum(same) / len(same)) < min(shifted) / 10


def test_precision_and_recall_of_one_set_are_one_and_of_far_sets_zero():
    gen = torch.Generator().manual_seed(2)
    a = torch.randn(50, 8, generator=gen)
    assert im.precision_recall(a, a) == (1.0, 1.0)
    assert im.precision_recall(a + 100, a) == (0.0, 0.0)
    # generated points all inside the real cloud (a dense core): precise, but they recall little of it
    precision, recall = im.precision_recall(0.05 * torch.randn(50, 8, generator=gen), a)
    assert precision > 0.9 and recall < 0.5


def test_too_few_rows_are_an_error_not_a_figure():
    with pytest.raises(ValueError, match="more than 3 rows"):
        im.precision_recall(torch.zeros(3, 2), torch.zeros(10, 2))
    with pytest.raises(ValueError, match="at least 2 rows"):
        im.kid(torch.zeros(1, 2), torch.zeros(10, 2))
    assert im.classifier_figures(torch.zeros(3, 2), torch.zeros(10, 2)) == {}


# ---------------------------------------------------------------------------
# Inception
# ---------------------------------------------------------------------------

def test_images_become_uint8_rgb_in_0_255():
    grey = torch.tensor([-1.0, 0.0, 1.0]).reshape(1, 1, 1, 3)
    rgb = im.to_uint8_rgb(grey, (-1, 1))
    assert rgb.dtype == torch.uint8 and rgb.shape == (1, 3, 1, 3)
    assert rgb[0, :, 0].tolist() == [[0, 128, 255]] * 3
    with pytest.raises(ValueError, match="not grey or RGB"):
        im.to_uint8_rgb(torch.zeros(1, 2, 4, 4), (0, 1))


def test_inception_figures_of_real_images_beat_those_of_constant_ones(quality, inception_weights):
    torch.set_num_threads(2)
    extractor = im.inception(str(inception_weights), torch.device("cpu"))
    real, train = quality.test_x[:6], quality._train_x[:6]
    metrics = im.ImageMetrics(extractor, real, train, (0, 1), torch.device("cpu"), samples=6, seed=0)
    assert metrics.real_features.shape == (6, 2048)
    reference = metrics.reference()
    constant = metrics.score(torch.full((6, 1, 8, 8), 0.5))
    assert set(constant) == {"fid", "kid", "kid_std", "precision", "recall"}
    assert reference["real_kid"] < constant["kid"]
    assert constant["recall"] == 0.0 < reference["real_recall"]
    assert math.isfinite(reference["real_fid"]) and math.isfinite(constant["fid"])


def test_inception_weights_that_cannot_be_had_name_the_file_and_the_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))

    def offline(*args, **kwargs):
        raise OSError("Name or service not known")
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    with pytest.raises(RuntimeError) as e:
        im.inception(None, torch.device("cpu"))
    message = str(e.value)
    assert "weights-inception-2015-12-05-6726825d.pth" in message and str(tmp_path / "hub" / "checkpoints") in message
    assert "--fid-weights PATH" in message
    with pytest.raises(RuntimeError, match="no such file"):
        im.inception(str(tmp_path / "absent.pth"), torch.device("cpu"))
