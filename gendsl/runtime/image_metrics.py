"""FID, KID and precision/recall of generated images against the held-out split, by torch-fidelity.

Two feature spaces, one set of formulas (torch-fidelity's own functions on feature rows):

* Inception-v3 (torch-fidelity's ``inception-v3-compat``, the TensorFlow FID network ported to
  torch): ``fid``, ``kid`` (``kid_std``), ``precision``, ``recall``, the figures papers report. The
  weights come from torch-fidelity's cache (torch hub's ``checkpoints/`` folder, downloaded there
  once) or from ``--fid-weights PATH``; without them a run says so once and goes on. Off unless
  ``--fid-every N`` asks for them: Inception at 299x299 is slow on a CPU (about a second an image
  on a shared 2-core machine).
* The digit classifier of ``digit_quality`` (offline, trained once per data set): its Frechet
  distance is ``classifier_fd`` (computed there); this module adds ``classifier_kid``,
  ``classifier_precision`` and ``classifier_recall`` in the same 128-dimensional space. These are
  comparable only with each other, never with Inception figures.

KID is the unbiased estimator of the squared MMD with the cubic polynomial kernel
k(a, b) = (a.b / d + 1)^3, averaged over ``KID_SUBSETS`` random subsets of
min(1000, generated, real) rows each (Binkowski et al., 2018): it can be slightly negative when the
two sets come from one distribution. Precision and recall are those of Kynkaanniemi et al. (2019)
with k = 3 nearest neighbours, on as many generated rows as real ones (the first of each), since
both depend on the counts.
"""

import argparse
import os

import torch

__all__ = ["COLUMNS", "ImageMetrics", "add_arguments", "feature_metrics", "kid",
           "missing_library", "precision_recall", "start", "to_uint8_rgb"]

# the columns of losses.csv's validation rows that this module fills (image generators)
COLUMNS = ("classifier_kid", "classifier_precision", "classifier_recall",
           "fid", "kid", "precision", "recall")
KID_SUBSETS = 100
KID_SUBSET_SIZE = 1000
NEIGHBOURS = 3  # precision/recall: the k of the k-nearest-neighbour balls
INCEPTION = "inception-v3-compat"  # torch-fidelity's name of the FID network
_BATCH = 64  # images per Inception forward pass


def missing_library() -> str | None:
    """None when torch-fidelity imports; else the line that says how to install it."""
    try:
        import torch_fidelity  # noqa: F401
    except ImportError:
        return "torch-fidelity is not installed (pip install torch-fidelity)"
    return None


def _rows(features: torch.Tensor) -> torch.Tensor:
    return torch.as_tensor(features).detach().to("cpu", torch.float64).flatten(1)


def kid(generated: torch.Tensor, real: torch.Tensor, seed: int = 0) -> tuple[float, float]:
    """(mean, std) of the unbiased KID between feature rows, over KID_SUBSETS subsets."""
    from torch_fidelity.metric_kid import (KEY_METRIC_KID_MEAN, KEY_METRIC_KID_STD,
                                           kid_features_to_metric)
    g, r = _rows(generated), _rows(real)
    size = min(KID_SUBSET_SIZE, len(g), len(r))
    if size < 2:
        raise ValueError(f"KID needs at least 2 rows on each side, got {len(g)} and {len(r)}")
    out = kid_features_to_metric(g, r, kid_subsets=KID_SUBSETS, kid_subset_size=size,
                                 kid_kernel="poly", kid_kernel_poly_degree=3,
                                 kid_kernel_poly_gamma=None, kid_kernel_poly_coef0=1,
                                 rng_seed=seed, verbose=False)
    return out[KEY_METRIC_KID_MEAN], out[KEY_METRIC_KID_STD]


def precision_recall(generated: torch.Tensor, real: torch.Tensor) -> tuple[float, float]:
    """(precision, recall) with NEIGHBOURS-nearest-neighbour balls, on min(len) rows of each."""
    from torch_fidelity.metric_prc import (KEY_METRIC_PRECISION, KEY_METRIC_RECALL,
                                           prc_features_to_metric)
    n = min(len(generated), len(real))
    if n <= NEIGHBOURS:
        raise ValueError(f"precision/recall needs more than {NEIGHBOURS} rows on each side, "
                         f"got {len(generated)} and {len(real)}")
    out = prc_features_to_metric(_rows(generated)[:n], _rows(real)[:n],
                                 prc_neighborhood=NEIGHBOURS, prc_batch_size=10000,
                                 save_cpu_ram=False, verbose=False)
    return out[KEY_METRIC_PRECISION], out[KEY_METRIC_RECALL]


def fid(generated: torch.Tensor, real: torch.Tensor) -> float:
    """The Frechet distance between Gaussians fitted to the feature rows (torch-fidelity's)."""
    from torch_fidelity.metric_fid import (KEY_METRIC_FID, fid_features_to_statistics,
                                           fid_statistics_to_metric)
    stats = [fid_features_to_statistics(_rows(f)) for f in (generated, real)]
    return fid_statistics_to_metric(*stats, verbose=False)[KEY_METRIC_FID]


def feature_metrics(generated: torch.Tensor, real: torch.Tensor, seed: int = 0) -> dict:
    """fid, kid, kid_std, precision, recall between generated and real feature rows."""
    kid_mean, kid_std = kid(generated, real, seed)
    precision, recall = precision_recall(generated, real)
    return {"fid": fid(generated, real), "kid": kid_mean, "kid_std": kid_std,
            "precision": precision, "recall": recall}


def classifier_figures(generated: torch.Tensor, real: torch.Tensor, seed: int = 0) -> dict:
    """classifier_kid, classifier_precision, classifier_recall of digit-classifier features
    ({} without torch-fidelity; the Frechet distance is digit_quality's classifier_fd)."""
    if missing_library() is not None or min(len(generated), len(real)) <= NEIGHBOURS:
        return {}
    kid_mean, _ = kid(generated, real, seed)
    precision, recall = precision_recall(generated, real)
    return {"classifier_kid": kid_mean, "classifier_precision": precision,
            "classifier_recall": recall}


def to_uint8_rgb(images: torch.Tensor, value_range) -> torch.Tensor:
    """(N, C, H, W) images in ``value_range`` -> (N, 3, H, W) uint8 in [0, 255], what the Inception
    extractor reads (grey repeated to three channels, alpha dropped)."""
    x = torch.as_tensor(images).detach().to("cpu", torch.float32)
    if x.dim() != 4 or x.shape[1] not in (1, 3, 4):
        raise ValueError(f"images of shape {tuple(x.shape[1:])} are not grey or RGB images")
    x = x[:, :3] if x.shape[1] == 4 else x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x
    low, high = (float(v) for v in value_range)
    return ((x - low) / (high - low) * 255).round().clamp(0, 255).to(torch.uint8)


def weights_file() -> tuple[str, str]:
    """(url, path in torch hub's cache) of torch-fidelity's Inception weights."""
    from torch_fidelity.feature_extractor_inceptionv3 import URL_INCEPTION_V3
    folder = os.path.join(torch.hub.get_dir(), "checkpoints")
    return URL_INCEPTION_V3, os.path.join(folder, os.path.basename(URL_INCEPTION_V3))


def inception(weights: str | None, device: torch.device):
    """torch-fidelity's Inception feature extractor (its 2048 pooled features) on ``device``.

    ``weights``: a file, or None for torch-fidelity's cache (downloaded there when absent).
    Raises RuntimeError naming the file to place, and where, when the weights cannot be had."""
    from torch_fidelity import FeatureExtractorInceptionV3
    url, cached = weights_file()
    if weights is None:
        try:  # what torch-fidelity does itself: the cache, else one download into it
            torch.hub.load_state_dict_from_url(url, progress=False, map_location="cpu")
        except Exception as e:  # URLError, HTTPError, OSError, a truncated file, ...
            raise RuntimeError(
                f"could not get the Inception weights ({e}). Without a network, download {url} "
                f"elsewhere and place it at '{cached}' (TORCH_HOME moves that folder), or pass "
                f"--fid-weights PATH") from e
        weights = cached
    elif not os.path.isfile(weights):
        raise RuntimeError(f"--fid-weights {weights}: no such file (torch-fidelity's Inception "
                           f"weights, {os.path.basename(url)}, from {url})")
    try:
        net = FeatureExtractorInceptionV3(INCEPTION, ["2048"],
                                          feature_extractor_weights_path=weights)
    except Exception as e:  # not a state dict of this network
        raise RuntimeError(f"cannot load the Inception weights from '{weights}': {e}") from e
    return net.to(device)


class ImageMetrics:
    """Inception figures of a run: the extractor, the held-out images' features (computed once)."""

    def __init__(self, extractor, real: torch.Tensor, train: torch.Tensor, value_range,
                 device: torch.device, samples: int, seed: int) -> None:
        self.extractor, self.device = extractor, device
        self.value_range = value_range
        self.samples, self.seed = samples, seed
        self._real, self._real_features = real, None
        self._train = train[:samples]
        self._reference = None

    @property
    def real_features(self) -> torch.Tensor:
        """The held-out images' features, computed at the first use."""
        if self._real_features is None:
            self._real_features = self.features(self._real)
        return self._real_features

    @torch.no_grad()
    def features(self, images: torch.Tensor) -> torch.Tensor:
        """(N, 2048) Inception features of images in the data's range."""
        rows = [self.extractor(to_uint8_rgb(part, self.value_range).to(self.device))[0].cpu()
                for part in images.split(_BATCH)]
        return torch.cat(rows).double()

    def score(self, generated: torch.Tensor) -> dict:
        """fid, kid, kid_std, precision, recall of generated images against the held-out ones."""
        return feature_metrics(self.features(generated), self.real_features, self.seed)

    def reference(self) -> dict:
        """The same figures for real images: --fid-samples training images against the held-out
        ones (the floor a generator is judged against); keys prefixed ``real_``."""
        if self._reference is None:
            self._reference = {f"real_{k}": v for k, v in self.score(self._train).items()}
        return self._reference


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--fid-every", type=int, default=None, metavar="N",
                   help="Inception FID, KID and precision/recall of --fid-samples samples against "
                   "the held-out images every N epochs and at the end (0: only at the end; "
                   "default: never, Inception is slow on a CPU)")
    p.add_argument("--fid-samples", type=int, default=2000, metavar="N",
                   help="how many samples the Inception figures score")
    p.add_argument("--fid-weights", default=None, metavar="PATH",
                   help="torch-fidelity's Inception weights (weights-inception-2015-12-05-"
                   "6726825d.pth) for machines without a network (default: torch-fidelity's "
                   "cache, downloaded once)")


class Schedule:
    """When a run measures the Inception figures, and what it keeps of them."""

    def __init__(self, metrics: ImageMetrics, every: int) -> None:
        self.metrics, self.every = metrics, every
        self.history: list[dict] = []  # each measurement's step, epoch and figures

    def due(self, epoch: int, last: bool) -> bool:
        return last or (self.every > 0 and (epoch + 1) % self.every == 0)

    def measure(self, sample, step: int, epoch: int | None) -> dict:
        """The figures of ``sample(n)``'s --fid-samples new images, drawn from a fixed seed
        (call it on a fork of the random stream); returns those that losses.csv has columns for."""
        torch.manual_seed(self.metrics.seed + 3)
        figures = self.metrics.score(sample(self.metrics.samples))
        self.history.append({"step": step, "epoch": epoch, **figures})
        return {k: v for k, v in figures.items() if k in COLUMNS}

    def final(self, sample, step: int) -> dict:
        """metrics.json's figures: the final step's (measured now unless its epoch end was), the
        real_* reference, each measured epoch's."""
        if not self.history or self.history[-1]["step"] != step:
            self.measure(sample, step, None)
        final = {k: v for k, v in self.history[-1].items() if k not in ("step", "epoch")}
        return {**final, **self.metrics.reference(), "fid_samples": self.metrics.samples,
                "fid_history": self.history}


def start(recipe, args: argparse.Namespace, train_set, test_set, device: torch.device):
    """The run's Schedule, or None: not asked for (no --fid-every), a dry run, or no weights or
    library (said once, naming what to place where; the run goes on)."""
    if getattr(args, "fid_every", None) is None or args.dry_run:
        return None
    problem = missing_library()
    extractor = None
    if problem is None:
        try:
            extractor = inception(args.fid_weights, device)
        except RuntimeError as e:
            problem = str(e)
    if problem is not None:
        print(f"note: no Inception FID/KID/precision-recall: {problem}")
        return None
    value_range = recipe.data_range or (0.0, 1.0)
    metrics = ImageMetrics(extractor, test_set.tensors[0], train_set.tensors[0], value_range,
                           device, args.fid_samples, args.seed)
    return Schedule(metrics, args.fid_every)
