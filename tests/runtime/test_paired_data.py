"""Samples of several data tensors (gendsl_runtime.data.load_samples): side-by-side folders,
parallel folders, .npz files with one array per tensor, edges and masked blocks of an image set,
and the errors that name what is wrong before training."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gendsl.check.declarations import BLOCK_PREFIXES, EDGES_PREFIX, ONE_TENSOR_SETS
from gendsl.runtime import data as D
from gendsl.runtime.data import DataError, fake_samples, load_samples

GREY = (1, 8, 8)


def _png(path, pixels):
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(pixels, dtype=np.uint8)).save(path)


def test_a_side_by_side_folder_is_cut_into_its_tensors(tmp_path):
    for i in range(10):  # left half i * 10, right half 255 - i * 10
        _png(tmp_path / "pairs" / f"{i:02d}.png",
             np.concatenate([np.full((8, 8), i * 10), np.full((8, 8), 255 - i * 10)], axis=1))
    train, test = load_samples([str(tmp_path / "pairs"), None], ["a", "b"], [GREY, GREY],
                               [(0.0, 1.0), (0.0, 1.0)], seed=0)
    assert len(train) == 9 and len(test) == 1 and len(train.tensors) == 3
    a, b, _ = train.tensors
    assert a.shape == b.shape == (9, 1, 8, 8)
    torch.testing.assert_close(a + b, torch.ones_like(a))  # the two halves of the same file


def test_side_by_side_images_must_cut_evenly(tmp_path):
    for i in range(3):
        _png(tmp_path / "odd" / f"{i}.png", np.zeros((8, 15)))
    with pytest.raises(DataError, match="15 pixels wide, which does not cut into 2"):
        load_samples([str(tmp_path / "odd"), None], ["a", "b"], [GREY, GREY], [(0, 1), (0, 1)])


def test_parallel_folders_are_matched_by_file_name(tmp_path):
    for i in range(5):
        _png(tmp_path / "A" / f"{i}.png", np.full((8, 8), i * 50))
        _png(tmp_path / "B" / f"{i}.png", np.full((16, 16), 255 - i * 50))
    train, test = load_samples([str(tmp_path / "A"), str(tmp_path / "B")], ["a", "b"], [GREY, GREY],
                               [(0.0, 1.0), (0.0, 1.0)], val_fraction=0.2)
    a, b, _ = train.tensors
    torch.testing.assert_close(a + b, torch.ones_like(a))
    (tmp_path / "B" / "4.png").rename(tmp_path / "B" / "9.png")
    with pytest.raises(DataError, match="do not hold the same file names.*'4.png' is in one only"):
        load_samples([str(tmp_path / "A"), str(tmp_path / "B")], ["a", "b"], [GREY, GREY], [(0, 1), (0, 1)])
    with pytest.raises(DataError, match="is not a folder"):
        load_samples([str(tmp_path / "A"), "digits"], ["a", "b"], [GREY, GREY], [(0, 1), (0, 1)])


def test_an_npz_file_gives_one_array_per_tensor_and_the_labels(tmp_path):
    a = np.random.default_rng(0).integers(0, 256, (20, 8, 8)).astype(np.uint8)
    np.savez(tmp_path / "pairs.npz", a=a, b=255 - a, digit=np.arange(20) % 3)
    train, test = load_samples([str(tmp_path / "pairs.npz"), None], ["a", "b"], [GREY, (64,)],
                               [(0.0, 1.0), (-1.0, 1.0)], label="digit", seed=1)
    x, y, labels = train.tensors
    assert x.shape == (18, 1, 8, 8) and y.shape == (18, 64) and len(test) == 2
    torch.testing.assert_close((x.flatten(1) * 2 - 1) + y, torch.zeros_like(y), atol=1e-6, rtol=0)
    assert set(labels.tolist()) <= {0, 1, 2} and labels.any()


def test_npz_mistakes_name_the_arrays(tmp_path):
    np.savez(tmp_path / "p.npz", a=np.zeros((4, 8, 8)), x=np.zeros((4, 8, 8)))
    with pytest.raises(DataError, match=r"has no array 'b' \(it has \['a', 'x'\]\).*named 'a', 'b'"):
        load_samples([str(tmp_path / "p.npz"), None], ["a", "b"], [GREY, GREY], [(0, 1), (0, 1)])
    np.savez(tmp_path / "q.npz", a=np.zeros((4, 8, 8)), b=np.zeros((5, 8, 8)))
    with pytest.raises(DataError, match="different numbers of samples"):
        load_samples([str(tmp_path / "q.npz"), None], ["a", "b"], [GREY, GREY], [(0, 1), (0, 1)])


def test_a_set_of_one_tensor_per_sample_is_refused_with_what_to_use():
    with pytest.raises(DataError, match="'digits' gives one tensor per sample, but the model reads 2"):
        load_samples(["digits", None], ["a", "b"], [GREY, GREY], [(0, 1), (0, 1)])
    with pytest.raises(DataError, match="one source for the whole sample, or one folder per tensor"):
        load_samples([None, "digits"], ["a", "b"], [GREY, GREY], [(0, 1), (0, 1)])


def test_edges_pair_each_image_with_its_sobel_edges():
    train, test = load_samples(["edges:digits", None], ["e", "x"], [GREY, GREY], [(-1.0, 1.0), (0.0, 1.0)])
    e, x, y = train.tensors
    assert e.shape == x.shape and len(y) == len(x) > 1000
    assert e.min() == -1.0 and e.max() == 1.0 and x.min() >= 0.0
    constant = x[:, :, :1, :1].expand_as(x)  # a constant image has no edges
    assert (D._sobel(constant) == 0).all()
    with pytest.raises(DataError, match="gives two tensors per sample"):
        load_samples(["edges:digits", None, None], ["a", "b", "c"], [GREY] * 3, [(0, 1)] * 3)


def test_blocks_are_cut_from_the_images():
    shapes = [(1, 8, 8), (1, 4, 4), (1, 8, 8)]
    train, test = load_samples(["centre_block:digits", None, None], ["m", "p", "x"], shapes, [(-1.0, 1.0)] * 3)
    m, p, x, _ = train.tensors
    torch.testing.assert_close(p, x[:, :, 2:6, 2:6])
    assert (m[:, :, 2:6, 2:6] == 1).all()
    keep = torch.ones(8, 8, dtype=torch.bool)
    keep[2:6, 2:6] = False
    torch.testing.assert_close(m[:, :, keep], x[:, :, keep])
    with pytest.raises(DataError, match="must have the image's 1 channels and fit in it"):
        load_samples(["random_block:digits", None], ["m", "p"], [(1, 8, 8), (1, 9, 4)], [(0, 1)] * 2)


def test_fake_samples_have_every_shape():
    s = fake_samples([(1, 4, 4), (3,)], 6, 10, [(-1.0, 1.0), None], seed=0)
    a, b, y = s.tensors
    assert a.shape == (6, 1, 4, 4) and b.shape == (6, 3) and y.shape == (6,)
    assert a.min() >= -1 and a.max() <= 1 and y.max() < 10


def test_the_checker_knows_the_runtime_sets():
    """check/declarations.py refuses these for several tensors without importing the runtime."""
    assert set(ONE_TENSOR_SETS) == set(D.TOY_SETS) | set(D.BUILTIN_SETS) | set(D.TORCHVISION_SETS)
    assert EDGES_PREFIX == D.EDGES_PREFIX and BLOCK_PREFIXES == D.BLOCK_PREFIXES
