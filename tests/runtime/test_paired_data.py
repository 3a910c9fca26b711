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


BLOCKS = [(1, 8, 8), (1, 4, 4), (1, 8, 8)]


def _random_blocks(seed=0, **kw):
    return load_samples(["random_block:digits", None, None], ["m", "p", "x"], BLOCKS,
                        [(-1.0, 1.0)] * 3, seed=seed, **kw)


def _corners(masked, part, image):
    """The (top, left) of each sample's block: where the block is the image's and the masked
    image is the fill value (1), the masked image being the image everywhere else."""
    def cut_at(k, t, c):
        outside = torch.ones(8, 8, dtype=torch.bool)
        outside[t:t + 4, c:c + 4] = False
        return (torch.equal(image[k, :, t:t + 4, c:c + 4], part[k])
                and bool((masked[k, :, t:t + 4, c:c + 4] == 1).all())
                and torch.equal(masked[k, 0][outside], image[k, 0][outside]))

    corners = []
    for k in range(len(image)):
        found = [(t, c) for t in range(5) for c in range(5) if cut_at(k, t, c)]
        assert found, f"sample {k} has no block cut out"
        corners.append(found[0])
    return corners


def test_random_blocks_are_drawn_afresh_every_epoch():
    train, test = _random_blocks()
    assert isinstance(train, D.Redrawn) and not isinstance(test, D.Redrawn)
    index = torch.arange(len(train))
    epochs = [D.take(train, index, epoch) for epoch in range(3)]
    corners = [_corners(*drawn[:3]) for drawn in epochs]
    for drawn in epochs:  # the same images and labels, only the blocks move
        assert torch.equal(drawn[2], epochs[0][2]) and torch.equal(drawn[3], epochs[0][3])
    for a, b in [(0, 1), (1, 2), (0, 2)]:
        moved = sum(x != y for x, y in zip(corners[a], corners[b]))
        assert moved > len(train) // 2, (a, b, moved)
    # PyTorch-GAN's np.random.randint(0, img_size - mask_size): every corner in 0..3, each reached
    seen = {c for cs in corners for c in cs}
    assert seen == {(t, c) for t in range(4) for c in range(4)}
    # `tensors` (what reads the set as a whole) is epoch 0's draw
    for a, b in zip(train.tensors, epochs[0]):
        assert torch.equal(a, b)


def test_random_blocks_depend_only_on_the_seed_epoch_and_sample():
    train, _ = _random_blocks(seed=3)
    again, _ = _random_blocks(seed=3)  # a fresh load: another process, or a resumed run
    other, _ = _random_blocks(seed=4)
    everything = torch.arange(len(train))
    for epoch in (0, 5):
        whole = D.take(train, everything, epoch)
        for a, b in zip(whole, D.take(again, everything, epoch)):
            assert torch.equal(a, b)
        assert not torch.equal(whole[0], D.take(other, everything, epoch)[0])
        # any batch, in any order, after any other draw: the rows of the whole epoch's draw
        D.take(train, everything[:7], epoch + 1)
        index = torch.randperm(len(train), generator=torch.Generator().manual_seed(epoch))[:16]
        for a, b in zip(D.take(train, index, epoch), whole):
            assert torch.equal(a, b[index])
        train.set_epoch(epoch)  # a DataLoader reads single samples of the epoch set
        for i in (0, 9):
            for a, b in zip(train[i], whole):
                assert torch.equal(a, b[i])


def test_loop_and_distributed_batches_draw_the_blocks_of_their_epoch():
    """One process's batches (loop.batches) and two processes' shards (DistributedSampler) hold
    the same samples with the same blocks in every epoch."""
    from gendsl.runtime import distributed, loop

    train, _ = _random_blocks(n=32)
    for epoch in (0, 1):
        whole = D.take(train, torch.arange(len(train)), epoch)
        one = list(loop.batches(train, 8, 0, epoch, drop_last=True))
        shards = [list(distributed.Shard(train, 8, 0, rank, 2).epoch(epoch)) for rank in (0, 1)]
        for batch, half_a, half_b in zip(one, *shards):
            assert len(half_a[0]) == len(half_b[0]) == 4
            for got in (batch, half_a, half_b):
                rows = [next(i for i in range(len(train)) if torch.equal(whole[2][i], image)
                             and torch.equal(whole[0][i], masked))
                        for masked, image in zip(got[0], got[2])]
                for a, b in zip(got, whole):
                    assert torch.equal(a, b[rows])
            together = torch.cat([half_a[0], half_b[0]])
            assert sorted(together.flatten(1).tolist()) == sorted(batch[0].flatten(1).tolist())


def test_test_blocks_stay_at_the_centre():
    _, test = _random_blocks()
    m, p, x, _ = test.tensors
    torch.testing.assert_close(p, x[:, :, 2:6, 2:6])
    assert (m[:, :, 2:6, 2:6] == 1).all()
    keep = torch.ones(8, 8, dtype=torch.bool)
    keep[2:6, 2:6] = False
    torch.testing.assert_close(m[:, :, keep], x[:, :, keep])


TINY_INPAINTING = """\
model tiny_inpaint

data masked: image[1, 8, 8] in [-1, 1] from "random_block:digits"
data part: image[1, 4, 4] in [-1, 1]

generator G(masked) -> [1, 4, 4] {
    conv2d(4, 4, 2, 1) -> leaky_relu(0.2)
    conv2d(1, 3, 1, 1) -> tanh
}

discriminator D(part) -> [1, 2, 2] {
    conv2d(4, 3, 2, 1) -> leaky_relu(0.2)
    conv2d(1, 3, 1, 1)
}

forward {
    fake = G(masked)
}

loss = gan(D(part), D(fake), least_squares) + 10 * l1(fake, part)

train {
    optimizer G = adam(lr=2e-4)
    optimizer D = adam(lr=2e-4)
    batch_size = 8
    epochs = 2
}
"""


def test_a_resumed_run_trains_on_the_blocks_of_an_uninterrupted_one(tmp_path, monkeypatch):
    """6 steps, 4 batches an epoch; 3 steps then --resume to 6: the same batches, blocks
    included, and the same losses; the second epoch's blocks are not the first's."""
    import sys

    from train_support import compile_to, imported, train_rows

    folder = compile_to(tmp_path / "code", text=TINY_INPAINTING)
    common = ["--quiet", "--n", "32", "--seed", "7", "--no-plots", "--no-report"]

    def run(out, *args):
        drawn = []
        with imported(folder) as train:
            loop = sys.modules["gendsl_runtime.loop"]
            real_take = loop.take

            def recording_take(dataset, index, epoch):
                batch = real_take(dataset, index, epoch)
                if isinstance(dataset, loop.Redrawn):  # the training set (not the test set's)
                    drawn.append((epoch, index.clone(), batch[0].clone()))
                return batch
            monkeypatch.setattr(loop, "take", recording_take)
            assert train.main([*common, *args, "--out", str(out)]) == 0
            monkeypatch.undo()
        return drawn

    whole = run(tmp_path / "a", "--steps", "6")
    first = run(tmp_path / "b", "--steps", "3")
    rest = run(tmp_path / "b", "--steps", "6", "--resume")
    assert [e for e, _, _ in whole] == [0, 0, 0, 0, 1, 1]
    # the resumed run draws epoch 0's batches again up to where it stopped (and skips them)
    for a, b in zip(whole, first + rest[3:]):
        assert a[0] == b[0] and torch.equal(a[1], b[1]) and torch.equal(a[2], b[2])
    assert len(rest) == 6
    assert train_rows(tmp_path / "a" / "losses.csv") == train_rows(tmp_path / "b" / "losses.csv")
    epoch_0 = {int(i): m for _, index, masked in whole[:4] for i, m in zip(index, masked)}
    moved = [not torch.equal(epoch_0[int(i)], m) for _, index, masked in whole[4:]
             for i, m in zip(index, masked)]
    assert sum(moved) > len(moved) // 2


def test_fake_samples_have_every_shape():
    s = fake_samples([(1, 4, 4), (3,)], 6, 10, [(-1.0, 1.0), None], seed=0)
    a, b, y = s.tensors
    assert a.shape == (6, 1, 4, 4) and b.shape == (6, 3) and y.shape == (6,)
    assert a.min() >= -1 and a.max() <= 1 and y.max() < 10


def test_the_checker_knows_the_runtime_sets():
    """check/declarations.py refuses these for several tensors without importing the runtime."""
    assert set(ONE_TENSOR_SETS) == set(D.TOY_SETS) | set(D.BUILTIN_SETS) | set(D.TORCHVISION_SETS)
    assert EDGES_PREFIX == D.EDGES_PREFIX and BLOCK_PREFIXES == D.BLOCK_PREFIXES
