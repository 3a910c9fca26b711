"""The offline quality measure of digit images (gendsl/runtime/digit_quality.py) on tiny data.

The classifier is trained for a few steps on scikit-learn's 8x8 digits (1,617 training images),
which takes about two CPU seconds: enough for real images to be told apart from constant ones.
"""

import math

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")

from gendsl.runtime import digit_quality as dq  # noqa: E402

FEW_STEPS = dq.ClassifierSettings(steps=250)


@pytest.fixture(scope="module")
def quality(tmp_path_factory):
    torch.set_num_threads(1)
    return dq.digit_quality("digits", tmp_path_factory.mktemp("root"), settings=FEW_STEPS)


def as_samples(images01):
    """Images in [0, 1] as a generator in [-1, 1] would give them."""
    return images01 * 2 - 1


def test_real_held_out_images_score_high(quality):
    s = quality.score(as_samples(quality.test_x), (-1, 1), labels=quality.test_y)
    assert s["samples"] == len(quality.test_x) == 180
    assert s["recognisable_pct"] > 50
    assert s["classes_covered"] == 10
    assert s["class_kl"] < 0.2
    assert s["class_accuracy_pct"] > 85
    assert len(s["class_accuracy_per_class"]) == 10 and min(s["class_accuracy_per_class"]) > 50
    assert s["classifier_fd"] == pytest.approx(0.0, abs=1e-6)  # the held-out set against itself


def test_training_images_as_samples_are_close_and_constant_or_noise_images_are_far(quality):
    train_x = quality._train_x[:400]
    real = quality.score(as_samples(train_x), (-1, 1))
    levels = torch.linspace(-1, 1, 5).repeat_interleave(80)
    constant = quality.score(levels[:, None, None, None].expand(-1, 1, 8, 8), (-1, 1))
    noise = quality.score(torch.rand(400, 1, 8, 8, generator=torch.Generator().manual_seed(0)) * 2 - 1, (-1, 1))
    assert real["recognisable_pct"] > 50 and real["classes_covered"] == 10 and real["class_kl"] < 0.2
    assert constant["classes_covered"] <= 5  # five distinct images can fall in five classes at most
    assert constant["class_kl"] > math.log(10) - math.log(5) - 1e-9  # at least log(10/5) from uniform
    for bad in (constant, noise):
        assert bad["recognisable_pct"] < real["recognisable_pct"] / 2
        assert bad["classifier_fd"] > 5 * real["classifier_fd"]


def test_conditional_samples_with_wrong_labels_have_low_class_accuracy(quality):
    x, y = as_samples(quality.test_x), quality.test_y
    right = quality.score(x, (-1, 1), labels=y)["class_accuracy_pct"]
    wrong = quality.score(x, (-1, 1), labels=(y + 1) % 10)
    assert right > 85 and wrong["class_accuracy_pct"] < 15
    assert wrong["recognisable_pct"] == quality.score(x, (-1, 1))["recognisable_pct"]  # labels change nothing else


def test_reference_gives_the_real_figures(quality):
    r = quality.reference()
    assert r["real_class_accuracy_pct"] == quality.accuracy > 85
    assert r["real_classes_covered"] == 10 and r["real_recognisable_pct"] > 50
    assert 0 < r["real_classifier_fd"] < 1e3  # training images against held-out ones: close, not equal


def test_frechet_distance_of_a_set_with_itself_is_zero_and_grows_with_a_shift():
    a = torch.randn(500, 16, generator=torch.Generator().manual_seed(0))
    assert dq.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-9)
    shifts = [dq.frechet_distance(a, a + s) for s in (0.1, 0.5, 1.0)]
    assert shifts == pytest.approx([16 * s * s for s in (0.1, 0.5, 1.0)])  # ||mu shift||^2, covariances equal
    # b = 2a: S_b = 4 S_a and (S_a S_b)^(1/2) = 2 S_a, so FD = |mu_a|^2 + tr(S_a)(1 + 4 - 4)
    expected = float(a.double().mean(0).square().sum() + torch.trace(torch.cov(a.double().T)))
    assert dq.frechet_distance(a, 2 * a) == pytest.approx(expected, rel=1e-9)


def test_samples_of_any_image_shape_are_resized_to_the_classifier():
    rgb = torch.full((3, 3, 64, 64), 0.5)
    x = dq.to_classifier_input(rgb, (-1, 1), 8)
    assert x.shape == (3, 1, 8, 8) and torch.allclose(x, torch.full_like(x, 0.75))
    flat = torch.linspace(0, 1, 784).repeat(2, 1)
    assert dq.to_classifier_input(flat, (0, 1), 28).shape == (2, 1, 28, 28)
    assert dq.to_classifier_input(torch.full((1, 1, 28, 28), 9.0), (0, 1), 28).max() == 1.0  # clamped
    with pytest.raises(ValueError, match="not images"):
        dq.to_classifier_input(torch.zeros(2, 5), (0, 1), 28)


def test_classifier_training_is_deterministic_and_leaves_the_callers_random_stream_alone():
    gen = torch.Generator().manual_seed(1)
    x, y = torch.rand(200, 1, 8, 8, generator=gen), torch.randint(10, (200,), generator=gen)
    torch.manual_seed(123)
    expected_next = torch.rand(3)
    torch.manual_seed(123)
    a = dq.train_classifier(x, y, 8, 10, dq.ClassifierSettings(steps=5, seed=7))
    assert torch.equal(torch.rand(3), expected_next)
    b = dq.train_classifier(x, y, 8, 10, dq.ClassifierSettings(steps=5, seed=7))
    c = dq.train_classifier(x, y, 8, 10, dq.ClassifierSettings(steps=5, seed=8))
    for name, value in a.state_dict().items():
        assert torch.equal(value, b.state_dict()[name]), name
    assert any(not torch.equal(v, c.state_dict()[k]) for k, v in a.state_dict().items())


def test_cache_is_reused_and_a_stale_or_corrupt_cache_is_rebuilt(tmp_path):
    settings = dq.ClassifierSettings(steps=3)
    first = dq.digit_quality("digits", tmp_path, settings=settings)
    path = tmp_path / "digits-classifier.pt"
    assert first.info["trained"] and first.info["cache"] == str(path) and path.is_file()

    again = dq.digit_quality("digits-3,5", tmp_path, settings=settings)  # a class suffix: the same classifier
    assert not again.info["trained"]
    for name, value in first.net.state_dict().items():
        assert torch.equal(value, again.net.state_dict()[name])
    assert again.reference() == first.reference()

    other = dq.digit_quality("digits", tmp_path, settings=dq.ClassifierSettings(steps=4))  # stale: other settings
    assert other.info["trained"]
    assert dq.digit_quality("digits", tmp_path, settings=dq.ClassifierSettings(steps=4)).info["trained"] is False

    state = torch.load(path, weights_only=True)
    state["key"] = "0" * 64  # stale: made from other inputs
    torch.save(state, path)
    assert dq.digit_quality("digits", tmp_path, settings=settings).info["trained"]

    path.write_bytes(b"not a checkpoint")  # corrupt
    logged = []
    rebuilt = dq.digit_quality("digits", tmp_path, settings=settings, log=logged.append)
    assert rebuilt.info["trained"] and "training the digit classifier of 'digits'" in logged[0]
    assert "held-out accuracy" in logged[1]
    assert not dq.digit_quality("digits", tmp_path, settings=settings).info["trained"]  # rewritten, readable


def test_cache_path_names_the_data_set_and_a_file_by_its_path(tmp_path):
    assert dq.cache_path("mnist5k", "data") == dq.cache_path("mnist5k-1,2", "data")
    assert str(dq.cache_path("MNIST5k", "data")).endswith("mnist5k-classifier.pt")
    f = tmp_path / "my digits.npz"
    f.write_bytes(b"")
    name = dq.cache_path(str(f), "data").name
    assert name.startswith("my_digits.npz-") and name.endswith("-classifier.pt")
    assert dq.classifier_side("digits") == 8 and dq.classifier_side("mnist5k") == 28


def test_a_data_set_with_one_class_is_refused(tmp_path):
    import numpy as np

    f = tmp_path / "ones.npz"
    np.savez(f, x=np.random.default_rng(0).random((40, 28, 28)).astype("float32"), y=np.zeros(40, dtype="int64"))
    with pytest.raises(ValueError, match="fewer than two classes"):
        dq.digit_quality(str(f), tmp_path, settings=dq.ClassifierSettings(steps=1))
