"""The training-quality harness (`python -m bench.quality`) on tiny sizes.

No figure is asserted: the full runs are benchmarks (docs/training.md). What can fail here
is the harness: running the generated train.py and the reference, reading their results,
and writing the tables between their markers.
"""

import math
import sys
from pathlib import Path

import pytest

from bench import quality  # noqa: E402

pytest.importorskip("torch")


def test_replace_section_replaces_between_markers_and_appends_once():
    text = "# Title\n\nprose\n"
    once = quality.replace_section(text, "gan", "table 1")
    assert once.count("<!-- BEGIN bench.quality gan -->") == 1 and "table 1" in once
    twice = quality.replace_section(once, "gan", "table 2")
    assert "table 1" not in twice and "table 2" in twice and twice.startswith("# Title\n\nprose")
    assert twice.count("<!-- END bench.quality gan -->") == 1


def test_gan_run_is_read_from_metrics_json(tmp_path):
    out = tmp_path / "ring"
    job = quality.Job("gan_ring8", 0, [sys.executable, str(quality.train_py("gan_ring8")), "--steps", "5",
                                       "--batch-size", "32", "--n", "400", "--out", str(out), "--quiet"], out)
    quality.run_jobs([job], parallel=1, threads=1, log=sys.stderr)
    r = job.result
    assert r["rc"] == 0, r.get("error")
    assert r["steps"] == 5 and 0 <= r["modes_captured"] <= 8 and 0 <= r["high_quality_pct"] <= 100
    assert r["cpu_s"] > 0
    table = quality.gan_table([job])
    assert "`specs/gan_ring8.gen` | ring8 | 1 | 5 |" in table


def test_vae_pair_and_table():
    jobs = quality.vae_jobs([0], quick=True, tmp=Path("/nonexistent"))
    assert [j.group for j in jobs] == ["gendsl", "reference"]
    assert jobs[1].command[1:4] == ["-m", "bench.quality", "--reference-vae"]
    jobs[0].result = {"rc": 0, "steps": 70, "test_neg_elbo": 101.0, "cpu_s": 2.0}
    jobs[1].result = {"rc": 0, "steps": 70, "test_neg_elbo": 100.0, "cpu_s": 1.0}
    table, gap = quality.vae_table(jobs, quick=True)
    assert gap == pytest.approx(1.0)
    assert "+1.00 %" in table


def test_reference_vae_trains_and_evaluates():
    r = quality.reference_vae(seed=0, epochs=1, batch_size=256, lr=1e-3)
    assert r["steps"] == 4500 // 256
    assert math.isfinite(r["test_neg_elbo"]) and 100 < r["test_neg_elbo"] < 550  # 543 nats = all pixels at 0.5


def test_images_smoke_trains_measures_and_tabulates(tmp_path, capsys):
    """`--images` end to end on tiny sizes: compile, train 2 steps, measure the checkpoint's samples.

    A classifier of 20 steps on the 8x8 digits (cached in tmp_path) keeps this cheap; the figures
    are not asserted, only that every column is filled from the run and its measurement.
    """
    pytest.importorskip("sklearn")
    # dcgan_mnist on the --data of every spec, cdcgan on its own `@digits` (its spec says mnist5k)
    status = quality.main(["--images", "specs/dcgan_mnist.gen", "specs/cdcgan.gen@digits", "--steps", "2",
                           "--n", "200", "--batch-size", "32", "--data", "digits", "--classifier-steps", "20",
                           "--samples", "100", "--seeds", "1", "--jobs", "1", "--no-write", "--root", str(tmp_path),
                           "--keep-runs", str(tmp_path / "runs")])
    out = capsys.readouterr().out
    assert status == 0
    rows = {line.split("|")[1].strip(): line.split("|")[2:-1] for line in out.splitlines()
            if line.startswith("| `specs/")}
    assert set(rows) == {"`specs/dcgan_mnist.gen`", "`specs/cdcgan.gen@digits`"}
    for spec, cells in rows.items():
        data, seeds, steps = (c.strip() for c in cells[:3])
        assert (data, seeds, steps) == ("digits", "1", "2"), spec
        assert all(c.strip() for c in cells), cells
    assert rows["`specs/dcgan_mnist.gen`"][-1].strip() == "n/a"  # unconditional: no class accuracy
    assert "(" in rows["`specs/cdcgan.gen@digits`"][-1]  # conditional: samples' and real images' accuracy
    assert (tmp_path / "digits-classifier.pt").is_file()
    assert not (tmp_path / "mnist5k-classifier.pt").exists()

    # the kept run: its sample grid's top row at each epoch, stacked (8x8 digits resized to 28x28)

    run = tmp_path / "runs" / "cdcgan-0"
    assert (run / "checkpoints" / "last.pt").is_file() and (run / "digits.png").is_file()
    shown = quality.epochs_strip(run, tmp_path / "strip.png", image_size=28)
    assert shown == len(list((run / "samples").glob("epoch_*.png"))) >= 1
    assert read_image(str(tmp_path / "strip.png")).shape[1] == shown * (28 + 4)


def read_image(path):
    from PIL import Image
    from torchvision.transforms.v2.functional import pil_to_tensor

    with Image.open(path) as png:
        return pil_to_tensor(png.convert("RGB"))


def test_spec_and_data():
    assert quality.spec_and_data("specs/dcgan.gen@mnist5k", None) == (Path("specs/dcgan.gen"), "mnist5k")
    assert quality.spec_and_data("specs/dcgan.gen", "digits") == (Path("specs/dcgan.gen"), "digits")
    assert quality.spec_and_data("specs/dcgan.gen", None) == (Path("specs/dcgan.gen"), None)
    assert quality.spec_and_data("a@b/x.gen", None) == (Path("a@b/x.gen"), None)  # an @ in a folder name


def test_epochs_strip_spreads_its_rows_over_the_run(tmp_path):
    """Ten epochs, five rows: the first, the last and three between; each row is the grid's top strip."""
    import torch
    from torchvision.utils import save_image

    (tmp_path / "samples").mkdir()
    for epoch in range(1, 11):  # a 2x2 grid of 4x4 images, all pixels at epoch / 10
        save_image(torch.full((4, 1, 4, 4), epoch / 10), tmp_path / "samples" / f"epoch_{epoch:03d}.png", nrow=2)
    assert quality.epochs_strip(tmp_path, tmp_path / "strip.png", image_size=4, rows=5) == 5
    strip = read_image(str(tmp_path / "strip.png"))
    assert strip.shape[1:] == (5 * 8, 2 * 6 + 2)
    inside = strip[0, 2::8, 2]  # a pixel inside the first image of each row
    assert [round(v / 255 * 10) for v in inside.tolist()] == [1, 3, 5, 8, 10]
    assert quality.epochs_strip(tmp_path / "none", tmp_path / "x.png", image_size=4) is None


def test_run_budgeted_stops_a_run_at_its_cpu_budget(tmp_path):
    """A run over its CPU budget gets SIGTERM; exit 130 after that counts as a finished run."""
    script = ("import signal, sys\n"
              "signal.signal(signal.SIGTERM, lambda *a: sys.exit(130))\n"
              "while True: pass\n")
    job = quality.Job("spin", 0, [sys.executable, "-c", script], tmp_path)
    quality.run_budgeted([job], parallel=1, threads=1, cpu_budget=0.5, log=sys.stderr)
    assert job.result["rc"] == 0 and job.result["stopped_by_budget"]
    assert job.result["cpu_s"] >= 0.5


def test_image_table_lists_each_seed_and_the_real_reference(tmp_path, monkeypatch):
    real = {"real_recognisable_pct": 95.6, "real_class_kl": 0.014, "real_classifier_fd": 25.4,
            "real_class_accuracy_pct": 97.8}
    jobs = []
    for seed, (rec, kl) in enumerate([(80.0, 0.05), (0.0, None)]):  # None: JSON's null for an infinite KL
        out = tmp_path / f"run{seed}"
        out.mkdir()
        (out / "digits.png").write_bytes(b"png")
        job = quality.Job("specs/x.gen", seed, [], out)
        job.result = dict(real, rc=0, model="x", data="mnist5k", steps=700, cpu_s=600.0, recognisable_pct=rec,
                          classes_covered=10 if kl else 0, class_kl=kl, classifier_fd=100.0 + seed,
                          stopped_by_budget=True)
        jobs.append(job)
    failed = quality.Job("specs/y.gen", 0, [], tmp_path / "none")
    failed.result = {"rc": 1, "error": "boom"}
    table = quality.image_table(jobs + [failed], threads=1)
    assert ("| `specs/x.gen` | mnist5k | 2 | 700, 700 | 10.0 ± 0.0 | 80.0, 0.0 (95.6) | 10, 0 | 0.050, inf (0.014) "
            "| 100.0, 101.0 (25.4) | n/a |") in table
    assert "| `specs/y.gen` | | 0 (1 failed) |" in table
    assert "stopped at the CPU budget" in table and "not comparable with Inception FID" in table
    monkeypatch.setattr(quality, "IMG", tmp_path / "img")
    assert quality.keep_grids(jobs) == ["x_digits.png"] and (tmp_path / "img" / "x_digits.png").is_file()
