import math
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from gendsl.emit import RUNTIME_FILES
from gendsl.runtime import data as D
from gendsl.runtime.data import TOY_SETS, DataError, fake_data, load_data, toy_modes

RUNTIME = Path(D.__file__).parent


def tensors(ds):
    return ds.tensors[0], ds.tensors[1]


# ---------------------------------------------------------------------------
# Toy sets
# ---------------------------------------------------------------------------

def test_toy_mode_definitions():
    assert TOY_SETS["gaussian"] == ([(-10.0, -10.0)], 1.0)
    assert len(TOY_SETS["gmm2"][0]) == 2
    assert len(TOY_SETS["gmm3"][0]) == 3
    centres, sd = TOY_SETS["ring8"]
    assert sd == 0.01 and len(centres) == 8
    assert np.allclose(np.hypot(*np.array(centres).T), 1.0)
    centres, sd = TOY_SETS["grid25"]
    assert sd == 0.05
    assert sorted(centres) == [(float(a), float(b)) for a in (-4, -2, 0, 2, 4) for b in (-4, -2, 0, 2, 4)]
    assert toy_modes("ring8-3") == TOY_SETS["ring8"]
    assert toy_modes("mnist5k") is None


def test_toy_default_sizes_and_dtypes():
    train, test = load_data("ring8", (2,), None)
    x, y = tensors(train)
    assert x.shape == (50_000, 2) and x.dtype == torch.float32
    assert y.shape == (50_000,) and y.dtype == torch.int64
    assert len(test) == 2_500


@pytest.mark.parametrize("name", list(TOY_SETS))
def test_toy_statistics(name):
    centres, sd = TOY_SETS[name]
    k = len(centres)
    (x, y), _ = [tensors(d) for d in load_data(name, (2,), None, n=4000 * k, seed=1)]
    assert set(y.tolist()) == set(range(k))
    counts = torch.bincount(y, minlength=k).double()
    assert (counts / counts.sum() - 1 / k).abs().max() < 0.02  # uniform over modes
    for i, c in enumerate(centres):
        pts = x[y == i].double()
        assert torch.allclose(pts.mean(0), torch.tensor(c, dtype=torch.float64),
                              atol=5 * sd / math.sqrt(len(pts)) + 1e-6)
        assert torch.allclose(pts.std(0), torch.tensor([sd, sd], dtype=torch.float64), rtol=0.1)


def test_toy_seeded():
    a, _ = load_data("gmm2", (2,), None, n=100, seed=3)
    b, _ = load_data("gmm2", (2,), None, n=100, seed=3)
    c, _ = load_data("gmm2", (2,), None, n=100, seed=4)
    assert torch.equal(a.tensors[0], b.tensors[0])
    assert not torch.equal(a.tensors[0], c.tensors[0])


def test_toy_n_and_reshape():
    train, test = load_data("grid25", (1, 2), None, n=1000)
    assert train.tensors[0].shape == (1000, 1, 2)
    assert len(test) == 50


def test_toy_class_filter():
    train, _ = load_data("gmm3-1", (2,), None, n=500)
    assert set(train.tensors[1].tolist()) == {1}
    assert torch.allclose(train.tensors[0].mean(0), torch.tensor(TOY_SETS["gmm3"][0][1]), atol=0.1)
    train, _ = load_data("ring8", (2,), None, n=500, classes=[0, 2])
    assert set(train.tensors[1].tolist()) == {0, 2}
    with pytest.raises(DataError, match="classes"):
        load_data("ring8", (2,), None, classes=[8])


def test_toy_for_image_spec_is_an_error():
    with pytest.raises(DataError) as e:
        load_data("ring8", (1, 28, 28), (0, 1))
    assert "(1, 28, 28)" in str(e.value) and "2 values" in str(e.value)


def test_toy_ignores_value_range_with_warning():
    with pytest.warns(UserWarning, match="ignored"):
        train, _ = load_data("gaussian", (2,), (-1, 1), n=200)
    assert train.tensors[0].mean() < -5  # still centred at (-10, -10)


# ---------------------------------------------------------------------------
# mnist5k and digits
# ---------------------------------------------------------------------------

def test_mnist5k_shapes_and_range():
    train, test = load_data("mnist5k", (1, 28, 28), (0, 1))
    x, y = tensors(train)
    assert x.shape == (4500, 1, 28, 28) and x.dtype == torch.float32
    assert y.dtype == torch.int64 and set(y.tolist()) == set(range(10))
    assert len(test) == 500
    assert x.min() == 0.0 and x.max() == 1.0
    # a real digit: mostly background, some ink
    assert 0.05 < x.mean() < 0.3


def test_mnist5k_split_is_seeded_and_disjoint():
    a_train, a_test = load_data("mnist5k", (784,), None, seed=0)
    b_train, _ = load_data("mnist5k", (784,), None, seed=0)
    c_train, _ = load_data("mnist5k", (784,), None, seed=1)
    assert torch.equal(a_train.tensors[0], b_train.tensors[0])
    assert not torch.equal(a_train.tensors[0], c_train.tensors[0])
    train_rows = {row.numpy().tobytes() for row in a_train.tensors[0]}
    assert not any(row.numpy().tobytes() in train_rows for row in a_test.tensors[0])
    # raw values kept when value_range is None
    assert a_train.tensors[0].max() == 255.0


def test_mnist5k_minus_one_one():
    train, _ = load_data("mnist5k", (1, 28, 28), (-1, 1), n=300)
    x = train.tensors[0]
    assert x.min() == -1.0 and x.max() == 1.0


def test_mnist5k_resize_32():
    train, test = load_data("mnist5k", (1, 32, 32), (0, 1), n=200)
    x = train.tensors[0]
    assert x.shape == (200, 1, 32, 32)
    assert 0.0 <= x.min() and x.max() <= 1.0 and x.max() > 0.9
    assert len(test) == 20


def test_mnist5k_to_rgb_64():
    train, _ = load_data("mnist5k", (3, 64, 64), (-1, 1), n=50)
    x = train.tensors[0]
    assert x.shape == (50, 3, 64, 64)
    assert torch.equal(x[:, 0], x[:, 1]) and torch.equal(x[:, 0], x[:, 2])
    grey, _ = load_data("mnist5k", (1, 64, 64), (-1, 1), n=50)
    assert torch.equal(x[:, :1], grey.tensors[0])
    assert x.min() == -1.0 and x.max() > 0.9


def test_mnist5k_vector_784_is_flattened_image():
    image, _ = load_data("mnist5k", (1, 28, 28), (0, 1), n=100)
    vector, _ = load_data("mnist5k", (784,), (0, 1), n=100)
    assert vector.tensors[0].shape == (100, 784)
    assert torch.equal(vector.tensors[0], image.tensors[0].reshape(100, 784))
    assert torch.equal(vector.tensors[1], image.tensors[1])


def test_mnist5k_vector_of_other_square_size_is_resized():
    train, _ = load_data("mnist5k", (1024,), (0, 1), n=10)
    assert train.tensors[0].shape == (10, 1024)


def test_mnist5k_to_2d_spec_is_an_error():
    with pytest.raises(DataError, match=r"\(1, 28, 28\).*\(2,\)"):
        load_data("mnist5k", (2,), None)


def test_class_suffix_and_argument():
    train, test = load_data("mnist5k-7", (1, 28, 28), (0, 1))
    assert set(train.tensors[1].tolist()) == {7}
    assert set(test.tensors[1].tolist()) <= {7}
    assert 400 < len(train) + len(test) < 600
    train, _ = load_data("mnist5k", (1, 28, 28), (0, 1), classes=[3, 5])
    assert set(train.tensors[1].tolist()) == {3, 5}
    train, _ = load_data("digits-0,1", (1, 8, 8), (0, 1))
    assert set(train.tensors[1].tolist()) == {0, 1}


def test_class_errors():
    with pytest.raises(DataError, match="classes"):
        load_data("mnist5k", (1, 28, 28), (0, 1), classes=[11])
    with pytest.raises(DataError, match="classes"):
        load_data("mnist5k-7", (1, 28, 28), (0, 1), classes=[3])


def test_digits():
    train, test = load_data("digits", (1, 8, 8), (0, 1))
    x = train.tensors[0]
    assert len(train) + len(test) == 1797
    assert x.shape[1:] == (1, 8, 8) and x.max() == 1.0 and x.min() == 0.0
    train, _ = load_data("digits", (1, 28, 28), (-1, 1), n=20)
    assert train.tensors[0].shape == (20, 1, 28, 28)
    assert train.tensors[0].min() >= -1 and train.tensors[0].max() <= 1


def test_argument_errors():
    with pytest.raises(DataError, match="unknown dataset"):
        load_data("no-such-set", (2,), None)
    with pytest.raises(DataError, match="val_fraction"):
        load_data("mnist5k", (784,), None, val_fraction=1.0)
    with pytest.raises(DataError, match="low < high"):
        load_data("mnist5k", (784,), (1, 0))
    with pytest.raises(DataError, match="shape"):
        load_data("mnist5k", (0, 28), None)


# ---------------------------------------------------------------------------
# torchvision sets
# ---------------------------------------------------------------------------

def test_torchvision_missing(monkeypatch):
    monkeypatch.setitem(sys.modules, "torchvision", None)  # import raises ImportError
    with pytest.raises(DataError, match="torchvision"):
        load_data("mnist", (1, 28, 28), (0, 1))
    with pytest.raises(DataError, match="torchvision"):
        load_data("fashion-mnist-3", (1, 28, 28), (0, 1))


def write_idx(path, array):
    """An MNIST-format (idx) file: magic, big-endian sizes, then uint8 data."""
    import struct

    array = np.asarray(array, dtype=np.uint8)
    code = 0x0800 + array.ndim
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(struct.pack(">I", code) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes())


def place_mnist(root, folder="MNIST", n_train=30, n_test=10):
    """Tiny sets in the files torchvision's MNIST classes read (ROOT/<Class>/raw/, unpacked)."""
    raw = root / folder / "raw"
    for split, n, value in (("train", n_train, 255), ("t10k", n_test, 0)):
        write_idx(raw / f"{split}-images-idx3-ubyte", np.full((n, 28, 28), value))
        write_idx(raw / f"{split}-labels-idx1-ubyte", np.arange(n) % 10)


@pytest.mark.parametrize("name,folder", [("mnist", "MNIST"), ("fashion-mnist", "FashionMNIST")])
def test_torchvision_mnist_family_with_published_split(tmp_path, name, folder):
    place_mnist(tmp_path, folder)
    train, test = load_data(name, (1, 32, 32), (-1, 1), root=str(tmp_path))
    assert train.tensors[0].shape == (30, 1, 32, 32) and len(test) == 10
    assert (train.tensors[0] == 1).all() and (test.tensors[0] == -1).all()
    train, _ = load_data(f"{name}-4", (1, 28, 28), (0, 1), root=str(tmp_path))
    assert train.tensors[1].tolist() == [4, 4, 4]


def test_torchvision_cifar10_from_placed_batches(tmp_path, monkeypatch):
    import pickle

    import torchvision.datasets as tvd

    folder = tmp_path / tvd.CIFAR10.base_folder
    folder.mkdir()
    gen = np.random.default_rng(0)
    pixels = {}
    for name, _ in tvd.CIFAR10.train_list + tvd.CIFAR10.test_list:
        data = gen.integers(0, 256, (4, 3 * 32 * 32), dtype=np.uint8)
        pixels[name] = data
        (folder / name).write_bytes(pickle.dumps({"data": data, "labels": [0, 1, 2, 3]}))
    (folder / tvd.CIFAR10.meta["filename"]).write_bytes(pickle.dumps({"label_names": [str(i) for i in range(10)]}))
    # the placed files are not the published ones: check that they exist, not their MD5
    monkeypatch.setattr(tvd.CIFAR10, "train_list", [[n, None] for n, _ in tvd.CIFAR10.train_list])
    monkeypatch.setattr(tvd.CIFAR10, "test_list", [[n, None] for n, _ in tvd.CIFAR10.test_list])
    monkeypatch.setattr(tvd.CIFAR10, "meta", {**tvd.CIFAR10.meta, "md5": None})
    train, test = load_data("cifar10", (3, 32, 32), (0, 1), root=str(tmp_path))
    assert train.tensors[0].shape == (20, 3, 32, 32) and len(test) == 4
    first = torch.from_numpy(pixels["data_batch_1"][0].reshape(3, 32, 32)).float() / 255
    assert torch.allclose(train.tensors[0][0], first)
    grey, _ = load_data("cifar10", (1, 16, 16), (0, 1), root=str(tmp_path))
    assert grey.tensors[0].shape == (20, 1, 16, 16)


def test_torchvision_celeba_from_placed_files(tmp_path, monkeypatch):
    from PIL import Image
    import torchvision.datasets as tvd

    folder = tmp_path / tvd.CelebA.base_folder
    (folder / "img_align_celeba").mkdir(parents=True)
    names = [f"{i:06d}.jpg" for i in range(1, 7)]
    for i, name in enumerate(names):
        Image.new("RGB", (178, 218), (40 * i, 0, 0)).save(folder / "img_align_celeba" / name)
    split = {n: 0 if i < 4 else 2 for i, n in enumerate(names)}
    (folder / "list_eval_partition.txt").write_text("".join(f"{n} {s}\n" for n, s in split.items()))
    (folder / "identity_CelebA.txt").write_text("".join(f"{n} {i}\n" for i, n in enumerate(names)))
    header = "6\n" + " ".join(f"a{j}" for j in range(40)) + "\n"
    (folder / "list_attr_celeba.txt").write_text(header + "".join(f"{n} " + " ".join(["1"] * 40) + "\n" for n in names))
    (folder / "list_bbox_celeba.txt").write_text("6\nimage_id x_1 y_1 width height\n" +
                                                 "".join(f"{n} 0 0 1 1\n" for n in names))
    (folder / "list_landmarks_align_celeba.txt").write_text(
        "6\n" + " ".join(f"p{j}" for j in range(10)) + "\n"
        + "".join(f"{n} " + " ".join(["1"] * 10) + "\n" for n in names))
    monkeypatch.setattr(tvd.CelebA, "file_list", [(i, None, f) for i, _, f in tvd.CelebA.file_list])
    train, test = load_data("celeba", (3, 64, 64), (0, 1), root=str(tmp_path))
    assert train.tensors[0].shape == (4, 3, 64, 64) and len(test) == 2
    assert train.tensors[0][3, 0].mean() == pytest.approx(120 / 255, abs=0.02)  # red 120, resized and cropped


def test_torchvision_offline_error_names_the_files_and_where_to_put_them(tmp_path, monkeypatch):
    from urllib.error import URLError

    import torchvision.datasets.mnist as tv_mnist

    def offline(url, **kwargs):
        raise URLError("no network")

    monkeypatch.setattr(tv_mnist, "download_and_extract_archive", offline)
    with pytest.raises(DataError) as info:
        load_data("mnist", (1, 28, 28), (0, 1), root=str(tmp_path))
    message = str(info.value)
    assert "could not load 'mnist'" in message and "Error downloading" in message
    assert f"in '{tmp_path / 'MNIST' / 'raw'}'" in message
    assert "train-images-idx3-ubyte.gz" in message and "t10k-labels-idx1-ubyte.gz" in message


def test_files_to_place_for_every_torchvision_set():
    import torchvision.datasets as tvd

    from gendsl.runtime.data import TORCHVISION_SETS, _files_to_place

    for key, cls_name in TORCHVISION_SETS.items():
        folder, files = _files_to_place(getattr(tvd, cls_name), "data", "train")
        assert folder.startswith("data") and files, key
    assert _files_to_place(tvd.CIFAR10, "data", "train") == ("data", ["cifar-10-python.tar.gz"])
    assert _files_to_place(tvd.SVHN, "data", "test") == ("data", ["test_32x32.mat"])
    folder, files = _files_to_place(tvd.CelebA, "data", "train")
    assert folder == "data/celeba" and "img_align_celeba.zip" in files and "list_eval_partition.txt" in files


# ---------------------------------------------------------------------------
# Folders of images
# ---------------------------------------------------------------------------

def write_png(path, value, size=(10, 10), mode="RGB"):
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    colour = value if mode == "L" else (value,) * 3
    Image.new(mode, size, colour).save(path)


def test_image_folder(tmp_path):
    for i in range(3):
        write_png(tmp_path / "cats" / f"{i}.png", 255)
        write_png(tmp_path / "dogs" / f"{i}.png", 0, size=(12, 8), mode="L")
    train, test = load_data(str(tmp_path), (3, 16, 16), (0, 1), val_fraction=0.0)
    x, y = tensors(train)
    assert x.shape == (6, 3, 16, 16) and len(test) == 0
    assert sorted(y.tolist()) == [0, 0, 0, 1, 1, 1]
    assert (x[y == 0] == 1).all() and (x[y == 1] == 0).all()

    grey, _ = load_data(str(tmp_path), (1, 8, 8), (-1, 1), val_fraction=0.5)
    assert grey.tensors[0].shape == (3, 1, 8, 8)

    cats, _ = load_data(str(tmp_path) + "-0", (1, 8, 8), (0, 1), val_fraction=0.0)
    assert cats.tensors[1].tolist() == [0, 0, 0]


def test_flat_image_folder(tmp_path):
    for i in range(4):
        write_png(tmp_path / f"{i}.png", 60 * i, mode="L")
    train, test = load_data(str(tmp_path), (1, 10, 10), (0, 1), val_fraction=0.25)
    assert len(train) == 3 and len(test) == 1
    assert set(train.tensors[1].tolist()) == {0}


def test_unreadable_image(tmp_path):
    write_png(tmp_path / "a" / "good.png", 10)
    (tmp_path / "a" / "bad.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match="bad.png"):
        load_data(str(tmp_path), (1, 10, 10), (0, 1))


def test_empty_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no images"):
        load_data(str(tmp_path / "empty"), (1, 10, 10), (0, 1))


def test_folder_of_mixed_sizes_needs_image_spec(tmp_path):
    write_png(tmp_path / "a.png", 10, size=(10, 10))
    write_png(tmp_path / "b.png", 10, size=(12, 10))
    with pytest.raises(DataError, match="different shapes"):
        load_data(str(tmp_path), (7,), None)


# ---------------------------------------------------------------------------
# .npz / .npy / .pt files
# ---------------------------------------------------------------------------

def test_npz_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(20, 28, 28), dtype=np.uint8)
    np.savez(tmp_path / "d.npz", x=x, y=np.arange(20))
    train, test = load_data(str(tmp_path / "d.npz"), (1, 28, 28), (0, 1), val_fraction=0.0)
    got, y = tensors(train)
    assert len(test) == 0 and sorted(y.tolist()) == list(range(20))
    expected = torch.from_numpy(x).float()[y][:, None] / 255
    assert torch.allclose(got, expected)


def test_npz_channels_last_float(tmp_path):
    x = np.random.default_rng(0).random((10, 8, 8, 3)).astype(np.float32)
    np.savez(tmp_path / "d.npz", x=x)
    train, _ = load_data(str(tmp_path / "d.npz"), (3, 8, 8), (-1, 1), val_fraction=0.0)
    got = train.tensors[0]
    assert got.shape == (10, 3, 8, 8) and set(train.tensors[1].tolist()) == {0}
    flat = torch.from_numpy(x).permute(0, 3, 1, 2).reshape(10, -1) * 2 - 1
    assert {tuple(r) for r in flat.round(decimals=4).tolist()} == \
        {tuple(r) for r in got.reshape(10, -1).round(decimals=4).tolist()}


def test_npz_points_are_left_alone(tmp_path):
    x = np.random.default_rng(0).normal(size=(50, 2)).astype(np.float32) * 7
    np.savez(tmp_path / "p.npz", x=x, y=np.zeros(50, dtype=np.int64))
    train, test = load_data(str(tmp_path / "p.npz"), (2,), None)
    both = torch.cat([train.tensors[0], test.tensors[0]])
    assert sorted(both[:, 0].tolist()) == sorted(x[:, 0].tolist())
    # points of no known range are refused for a rescaled spec (issue 15); with their range
    # stored, the shape is what is wrong
    with pytest.raises(DataError, match=r"p\.npz.*no known range"):
        load_data(str(tmp_path / "p.npz"), (1, 28, 28), (0, 1))
    np.savez(tmp_path / "p.npz", x=x, range=np.array([-100.0, 100.0]))
    with pytest.raises(DataError, match=r"p\.npz.*\(2,\).*\(1, 28, 28\)"):
        load_data(str(tmp_path / "p.npz"), (1, 28, 28), (0, 1))


def test_npz_errors(tmp_path):
    np.savez(tmp_path / "nox.npz", images=np.zeros((3, 4)))
    with pytest.raises(DataError, match="no array 'x'.*images"):
        load_data(str(tmp_path / "nox.npz"), (4,), None)
    np.savez(tmp_path / "bad_y.npz", x=np.zeros((3, 4)), y=np.zeros(2))
    with pytest.raises(DataError, match="3 samples but y has 2"):
        load_data(str(tmp_path / "bad_y.npz"), (4,), None)
    np.savez(tmp_path / "empty.npz", x=np.zeros((0, 4)))
    with pytest.raises(DataError, match="no samples"):
        load_data(str(tmp_path / "empty.npz"), (4,), None)
    (tmp_path / "junk.npz").write_bytes(b"junk")
    with pytest.raises(DataError, match="junk.npz"):
        load_data(str(tmp_path / "junk.npz"), (4,), None)
    (tmp_path / "data.csv").write_text("1,2\n")
    with pytest.raises(DataError, match="npz"):
        load_data(str(tmp_path / "data.csv"), (2,), None)


@pytest.mark.parametrize("kind", ["tensor", "tuple", "dict"])
def test_pt_files(tmp_path, kind):
    x = torch.rand(12, 1, 4, 4)
    y = torch.arange(12)
    obj = {"tensor": x, "tuple": (x, y), "dict": {"x": x, "y": y}}[kind]
    torch.save(obj, tmp_path / "d.pt")
    train, test = load_data(str(tmp_path / "d.pt"), (16,), (0, 1), val_fraction=0.25)
    assert train.tensors[0].shape == (9, 16) and len(test) == 3
    if kind != "tensor":
        got = train.tensors[0][torch.argsort(train.tensors[1])]
        assert torch.allclose(got, x[torch.sort(train.tensors[1]).values].reshape(9, 16))


def test_npy_file(tmp_path):
    np.save(tmp_path / "d.npy", np.full((5, 3), 0.5, dtype=np.float32))
    train, _ = load_data(str(tmp_path / "d.npy"), (3,), (-1, 1), val_fraction=0.0)
    assert torch.equal(train.tensors[0], torch.zeros(5, 3))


# ---------------------------------------------------------------------------
# fake_data, standalone use
# ---------------------------------------------------------------------------

def test_fake_data():
    ds = fake_data((3, 8, 8), 16, num_classes=10, value_range=(-1, 1), seed=1)
    x, y = tensors(ds)
    assert x.shape == (16, 3, 8, 8) and x.dtype == torch.float32
    assert -1 <= x.min() and x.max() <= 1
    assert y.dtype == torch.int64 and 0 <= y.min() and y.max() < 10
    x2, _ = tensors(fake_data((2,), 5))
    assert x2.shape == (5, 2)
    assert torch.equal(fake_data((2,), 5, seed=3).tensors[0], fake_data((2,), 5, seed=3).tensors[0])


def test_runtime_files_are_standalone(tmp_path):
    """Copied as the package emit writes next to a train.py, they import without gendsl and nothing heavy."""
    (tmp_path / "gendsl_runtime").mkdir()
    for name in RUNTIME_FILES:
        shutil.copy(RUNTIME / name, tmp_path / "gendsl_runtime" / name)
    code = (
        "import sys, numpy, torch\n"
        "before = set(sys.modules)\n"
        "from gendsl_runtime import data, metrics, outputs\n"
        "heavy = {'gendsl', 'matplotlib', 'sklearn', 'mlxtend', 'PIL', 'tqdm', 'torchvision'}\n"
        "loaded = sorted(heavy & {m.split('.')[0] for m in set(sys.modules) - before})\n"
        "assert not loaded, loaded\n"
        "x, _ = data.load_data('ring8', (2,), None, n=64)\n"
        "print(metrics.mode_metrics(x.tensors[0], *data.TOY_SETS['ring8'])['modes_captured'])\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "8"
