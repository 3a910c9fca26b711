"""What a training run leaves in its output folder: checkpoints, losses.csv, plots.

Image grids are laid out and written by torchvision.utils (make_grid,
save_image), imported only when a run saves images. Plots (loss curves, scatters) use
matplotlib's object API with the Agg canvas, so they never open a window or
change the global backend. This file is copied next to each generated
``train.py``.
"""

import csv
import json
import math
import os
import tempfile
from pathlib import Path

import torch

from .report import read_rows

__all__ = ["atomic_save", "atomic_write_json", "CsvLog", "read_csv_log", "plot_losses",
           "save_image_grid", "save_scatter_2d", "save_latent_scatter"]

# Columns of losses.csv that say where a row belongs rather than what was measured.
INDEX_COLUMNS = ("step", "epoch", "split", "batch", "iteration", "time", "lr")


# ---------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------

def _atomic_write(path, write):
    """Call write(file) on a temp file next to path, then rename it over path.

    Same-folder temp file + fsync + os.replace: an interrupted run leaves
    either the old file or the new one, never half of one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        # mkstemp makes 0600 files; the result gets the mode open() would give it (umask)
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def _umask() -> int:
    mask = os.umask(0o022)  # reading the umask means setting it: put it straight back
    os.umask(mask)
    return mask


def atomic_save(obj, path):
    """torch.save(obj, path) so that path is never left half-written."""
    _atomic_write(path, lambda f: torch.save(obj, f))


def atomic_write_json(obj, path):
    """Write obj as indented, standard JSON, atomically; inf and nan become null."""
    text = json.dumps(_finite(obj), indent=2, allow_nan=False)
    _atomic_write(path, lambda f: f.write((text + "\n").encode()))


def _finite(obj):
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


class CsvLog:
    """Rows of step/epoch/split/term values appended to a CSV file.

    The header is `fields` when given, else the first row's keys; a row may
    leave columns empty. Each row is flushed as it is written, so the file is
    readable while training runs. With append=True an existing file (a resumed
    run) is kept and its header reused; columns of `fields` that it lacks (the
    file was written by an older train.py) are added to it, empty in the old rows.

        log = CsvLog(out / "losses.csv", fields=["step", "epoch", "split", "loss_d", "loss_g"])
        log.write(step=100, epoch=0, split="train", loss_d=0.7, loss_g=1.2)
    """

    def __init__(self, path, append=False, fields=None):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fields = list(fields) if fields else None
        self._file = None
        self._writer = None
        if append and self.path.exists() and self.path.stat().st_size > 0:
            with open(self.path, newline="") as f:
                rows = list(csv.reader(f))
            header = rows[0] if rows and rows[0] else list(self.fields or [])
            missing = [k for k in self.fields or [] if k not in header]
            self.fields = header + missing
            if missing:  # resumed by a newer train.py that logs more columns: widen the file once
                tmp = self.path.with_name(f".{self.path.name}.tmp")
                with open(tmp, "w", newline="") as f:
                    padded = [row + [""] * len(missing) for row in rows[1:]]
                    csv.writer(f).writerows([self.fields] + padded)
                os.replace(tmp, self.path)
            self._open("a", header=False)
        else:
            self.path.write_text("")
            if self.fields:
                self._open("a", header=True)

    def _open(self, mode, header):
        self._file = open(self.path, mode, newline="")
        self._writer = csv.writer(self._file)
        self._known = set(self.fields)
        if header:
            self._writer.writerow(self.fields)

    def write(self, row=None, **values):
        """Append one row, given as a dict and/or keyword arguments."""
        if row:
            values = {**row, **values}
        if self._writer is None:
            self.fields = self.fields or list(values)
            self._open("a", header=True)
        if not self._known.issuperset(values):
            unknown = [k for k in values if k not in self._known]
            raise ValueError(f"{self.path}: columns {unknown} are not in the header {self.fields}")
        self._writer.writerow([_plain(values[k]) if k in values else "" for k in self.fields])
        self._file.flush()

    def close(self):
        if self._file is not None:
            self._file.close()
            self._file = self._writer = None

    __call__ = write


def _plain(v):
    """Tensors and numpy scalars as Python numbers, for csv."""
    if hasattr(v, "item") and getattr(v, "ndim", 0) == 0:
        return v.item()
    return v


def read_csv_log(csv_path):
    """losses.csv as a list of dicts with numeric values as floats (empty cells dropped)."""
    return read_rows(Path(csv_path))


# ---------------------------------------------------------------------------
# Plots
# ---------------------------------------------------------------------------

def _figure(figsize=(6, 4)):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize)
    FigureCanvasAgg(fig)
    return fig


def _save_figure(fig, path):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def plot_losses(csv_path, png_path):
    """Plot every term of losses.csv against step (or epoch): train solid, other splits dashed."""
    rows = read_csv_log(csv_path)
    columns = list(dict.fromkeys(k for row in rows for k in row))
    x_key = next((k for k in ("step", "epoch") if k in columns), None)
    terms = [k for k in columns if k not in INDEX_COLUMNS
             and all(isinstance(row.get(k, 0.0), float) for row in rows)]
    splits = list(dict.fromkeys(str(row.get("split", "train")) for row in rows))

    fig = _figure((7, 4))
    ax = fig.add_subplot()
    colors = _colors(len(terms))
    for term, color in zip(terms, colors):
        for split in splits:
            points = [(row.get(x_key, i) if x_key else i, row[term])
                      for i, row in enumerate(rows)
                      if term in row and str(row.get("split", "train")) == split
                      and math.isfinite(row[term])]
            if not points:
                continue
            xs, ys = zip(*points)
            train = split == "train"
            ax.plot(xs, ys, color=color, linestyle="-" if train else "--",
                    marker=None if train and len(xs) > 1 else "o", markersize=3,
                    linewidth=1.0 if train else 1.5,
                    label=term if len(splits) == 1 else f"{term} ({split})")
    ax.set_xlabel(x_key or "row")
    ax.set_ylabel("value")
    if terms:
        ax.legend(fontsize="small")
    ax.grid(alpha=0.3)
    _save_figure(fig, png_path)


def _colors(n):
    from matplotlib import colormaps

    cmap = colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(n)]


def save_image_grid(images, path, value_range=None, nrow=8, padding=2):
    """Save a batch [B, C, H, W] (or [B, H, W]) as one PNG grid, nrow images per row, atomically.

    value_range maps pixel values to black..white; None uses the batch min/max.
    torchvision.utils.make_grid lays the grid out and save_image writes it.
    """
    # only runs that save images pay for the import
    from torchvision.utils import make_grid, save_image

    x = torch.as_tensor(images).detach().to("cpu", torch.float32)
    if x.dim() == 3:
        x = x[:, None]
    if x.dim() != 4:
        raise ValueError(f"expected images [B, C, H, W], got {tuple(x.shape)}")
    if x.shape[1] not in (1, 3, 4):  # 2 or 5+ channels: each channel is shown as a grey image
        nrow *= x.shape[1]
        x = x.reshape(-1, 1, *x.shape[2:])
    low, high = value_range if value_range is not None else (float(x.min()), float(x.max()))
    if high <= low:  # a constant batch: make_grid would divide by zero
        high = low + 1e-12
    grid = make_grid(x, nrow=min(nrow, len(x)), padding=padding, normalize=True,
                     value_range=(low, high))
    _atomic_write(path, lambda f: save_image(grid, f, format="png"))


def save_scatter_2d(fake, real, path, centers=None, title=None):
    """Scatter generated 2-D points over real ones (and the mode centres, if given)."""
    fake = _points(fake)
    real = _points(real)
    fig = _figure((5, 5))
    ax = fig.add_subplot()
    ax.scatter(real[:, 0], real[:, 1], s=4, c="0.6", alpha=0.5, linewidths=0, label="real")
    ax.scatter(fake[:, 0], fake[:, 1], s=4, c="tab:red", alpha=0.6, linewidths=0,
               label="generated")
    if centers is not None:
        c = _points(centers)
        ax.scatter(c[:, 0], c[:, 1], s=40, marker="x", c="black", linewidths=1, label="modes")
    ax.set_aspect("equal", adjustable="datalim")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.06), ncol=3, fontsize="small",
              markerscale=2, frameon=False)
    if title:
        ax.set_title(title)
    _save_figure(fig, path)


def save_latent_scatter(codes, labels, path, title=None):
    """Scatter latent codes [N, 2] coloured by label; wider codes are projected on their top 2
    PCs."""
    z = torch.as_tensor(codes).detach().to("cpu", torch.float64)
    z = z.reshape(len(z), -1)
    projected = z.shape[1] > 2
    if z.shape[1] == 1:
        z = torch.cat([z, torch.zeros_like(z)], dim=1)
    elif projected:
        centred = z - z.mean(dim=0)
        _, _, v = torch.linalg.svd(centred, full_matrices=False)
        z = centred @ v[:2].T
    labels = torch.as_tensor(labels).detach().cpu().reshape(-1).long()
    classes = torch.unique(labels).tolist()

    fig = _figure((6, 5))
    ax = fig.add_subplot()
    for cls, color in zip(classes, _colors(len(classes))):
        m = labels == cls
        ax.scatter(z[m, 0].numpy(), z[m, 1].numpy(), s=6, color=color, alpha=0.7,
                   linewidths=0, label=str(cls))
    if 1 < len(classes) <= 20:
        ax.legend(fontsize="small", markerscale=3, loc="upper left", bbox_to_anchor=(1.01, 1),
                  frameon=False)
    ax.set_xlabel("PC 1" if projected else "z[0]")
    ax.set_ylabel("PC 2" if projected else "z[1]")
    if title:
        ax.set_title(title)
    _save_figure(fig, path)


def _points(p):
    return torch.as_tensor(p).detach().to("cpu", torch.float32).reshape(-1, 2).numpy()
