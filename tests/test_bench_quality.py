"""The training-quality harness (`python -m bench.quality`) on tiny sizes.

No figure is asserted: the full runs are benchmarks (docs/training.md). What can fail here
is the harness: running the generated train.py and the reference, reading their results,
and writing the tables between their markers.
"""

import math
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `bench` sits at the repository root
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
