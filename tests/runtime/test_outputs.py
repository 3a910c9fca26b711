import csv
import json
import math

import numpy as np
import pytest
import torch

from gendsl.runtime.outputs import (CsvLog, atomic_save, atomic_write_json, plot_losses,
                                    read_csv_log, save_image_grid, save_latent_scatter,
                                    save_scatter_2d)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def read_png(path):
    from PIL import Image

    assert path.read_bytes()[:8] == PNG_MAGIC
    with Image.open(path) as img:
        return np.asarray(img.convert("RGB"))


def test_atomic_save_round_trip_and_no_temp_files(tmp_path):
    path = tmp_path / "ckpt" / "last.pt"
    atomic_save({"step": 1, "w": torch.arange(3)}, path)
    atomic_save({"step": 2, "w": torch.arange(4)}, path)
    loaded = torch.load(path)
    assert loaded["step"] == 2 and torch.equal(loaded["w"], torch.arange(4))
    assert [p.name for p in path.parent.iterdir()] == ["last.pt"]


def test_atomic_save_failure_keeps_old_file(tmp_path):
    path = tmp_path / "last.pt"
    atomic_save({"step": 1}, path)
    with pytest.raises(Exception):
        atomic_save({"bad": lambda: 0}, path)  # lambdas cannot be pickled
    assert torch.load(path) == {"step": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]


def test_atomic_write_json(tmp_path):
    atomic_write_json({"modes": 8, "kl": math.inf, "per_class": [0.5, math.nan]}, tmp_path / "m.json")
    text = (tmp_path / "m.json").read_text()
    assert "Infinity" not in text and "NaN" not in text  # standard JSON: non-finite values become null
    assert json.loads(text) == {"modes": 8, "kl": None, "per_class": [0.5, None]}
    assert len(list(tmp_path.iterdir())) == 1


def test_csv_log(tmp_path):
    path = tmp_path / "losses.csv"
    log = CsvLog(path)
    log.write(step=1, epoch=0, split="train", loss_d=torch.tensor(0.5), loss_g=1.5)
    # readable before the run ends
    assert path.read_text().splitlines() == ["step,epoch,split,loss_d,loss_g", "1,0,train,0.5,1.5"]
    log({"step": 1, "epoch": 0, "split": "val"}, loss_d=0.25)
    rows = list(csv.DictReader(path.open()))
    assert rows[1] == {"step": "1", "epoch": "0", "split": "val", "loss_d": "0.25", "loss_g": ""}
    with pytest.raises(ValueError, match="extra"):
        log.write(step=2, extra=1.0)

    resumed = CsvLog(path, append=True)
    resumed.write(step=2, epoch=1, split="train", loss_g=1.0, loss_d=0.4)
    rows = read_csv_log(path)
    assert len(rows) == 3 and rows[2] == {"step": 2.0, "epoch": 1.0, "split": "train",
                                          "loss_d": 0.4, "loss_g": 1.0}
    CsvLog(path)  # a fresh run starts a fresh file
    assert path.read_text() == ""


def test_csv_log_resumed_with_more_columns(tmp_path):
    """A run resumed by a newer train.py that logs more columns widens the old file instead of failing."""
    path = tmp_path / "losses.csv"
    old = CsvLog(path, fields=["step", "epoch", "split", "loss_d"])
    old.write(step=1, epoch=0, split="train", loss_d=0.5)
    old.close()
    resumed = CsvLog(path, append=True, fields=["step", "epoch", "split", "loss_d", "recognisable_pct"])
    resumed.write(step=2, epoch=1, split="val", loss_d=0.4, recognisable_pct=80.0)
    resumed.close()
    assert path.read_text().splitlines() == ["step,epoch,split,loss_d,recognisable_pct", "1,0,train,0.5,",
                                             "2,1,val,0.4,80.0"]
    assert not list(tmp_path.glob(".*.tmp"))


def test_plot_losses(tmp_path):
    log = CsvLog(tmp_path / "losses.csv")
    for step in range(20):
        log.write(step=step, epoch=step // 10, split="train", bce=100.0 / (step + 1), kl=5.0)
        if step % 10 == 9:
            log.write(step=step, epoch=step // 10, split="val", bce=20.0, kl=float("nan"))
    plot_losses(tmp_path / "losses.csv", tmp_path / "plots" / "losses.png")
    img = read_png(tmp_path / "plots" / "losses.png")
    assert img.shape[0] > 100 and img.shape[1] > 100


def test_save_image_grid_layout(tmp_path):
    images = torch.stack([torch.full((1, 4, 4), float(i) / 9) for i in range(10)])  # in [0, 1]
    save_image_grid(images * 2 - 1, tmp_path / "grid.png", (-1, 1), nrow=8)
    img = read_png(tmp_path / "grid.png")
    # 2 rows x 8 columns of 4x4 tiles with 2-pixel padding
    assert img.shape == (2 * 6 + 2, 8 * 6 + 2, 3)
    assert img[0, 0].tolist() == [0, 0, 0]  # padding
    assert img[2 + 1, 2 + 6 * 1 + 1, 0] == pytest.approx(255 / 9, abs=1)  # image 1
    assert img[8 + 1, 2 + 1, 0] == pytest.approx(255 * 8 / 9, abs=1)  # image 8, second row


def test_save_image_grid_rgb(tmp_path):
    images = torch.zeros(3, 3, 5, 5)
    images[:, 0] = 1.0  # red
    save_image_grid(images, tmp_path / "rgb.png", (0, 1), nrow=3)
    img = read_png(tmp_path / "rgb.png")
    assert img.shape == (5 + 4, 3 * 7 + 2, 3)
    assert img[3, 3].tolist() == [255, 0, 0]
    with pytest.raises(ValueError):  # not a batch of images (other channel counts: test_outputs_channels.py)
        save_image_grid(torch.zeros(2, 5, 4, 4, 1), tmp_path / "bad.png", (0, 1))


def test_save_image_grid_writes_torchvisions_grid_atomically(tmp_path):
    from torchvision.utils import make_grid

    images = torch.rand(5, 3, 6, 7, generator=torch.Generator().manual_seed(0)) * 4 - 2
    save_image_grid(images, tmp_path / "g.png", (-2, 2), nrow=3)
    expected = make_grid(images, nrow=3, padding=2, normalize=True, value_range=(-2, 2))
    pixels = expected.mul(255).add_(0.5).clamp_(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()
    assert np.array_equal(read_png(tmp_path / "g.png"), pixels)
    assert [p.name for p in tmp_path.iterdir()] == ["g.png"]  # no temp file left


def test_save_image_grid_of_a_constant_batch(tmp_path):
    save_image_grid(torch.ones(2, 1, 3, 3), tmp_path / "c.png")
    assert read_png(tmp_path / "c.png").shape == (3 + 4, 2 * 5 + 2, 3)


def test_image_grid_does_not_load_matplotlib(tmp_path):
    import subprocess
    import sys

    code = ("import sys, torch; from gendsl.runtime.outputs import save_image_grid; "
            f"save_image_grid(torch.rand(4, 3, 8, 8), {str(tmp_path / 'g.png')!r}, (0, 1)); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'matplotlib'), "
            "'torchvision.utils' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[] True"
    assert read_png(tmp_path / "g.png").shape == (1 * 10 + 2, 4 * 10 + 2, 3)  # one row of 4


def test_scatter_plots(tmp_path):
    fake = torch.randn(500, 2) * 0.1
    real = torch.randn(500, 2)
    save_scatter_2d(fake, real, tmp_path / "scatter.png", centers=[(0.0, 0.0), (1.0, 1.0)])
    assert read_png(tmp_path / "scatter.png").shape[0] > 100
    labels = torch.randint(0, 10, (300,))
    save_latent_scatter(torch.randn(300, 2), labels, tmp_path / "latent.png")
    save_latent_scatter(torch.randn(300, 20), labels, tmp_path / "latent20.png")
    assert read_png(tmp_path / "latent20.png").shape[0] > 100
