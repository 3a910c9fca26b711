"""The benchmark harness (`python -m bench`) on tiny sizes: every section runs and reports.

No timing is asserted; what can fail is the harness itself, and fidelity: the generated
networks must start from the same parameters as the hand-written references in bench/reference/.
"""

import math
import sys

import pytest

from bench import __main__ as bench_main  # noqa: E402
from bench import compile_time, scaling, throughput, training  # noqa: E402
from bench.common import ROOT, Stat, loglog_slope, run, table  # noqa: E402

torch = pytest.importorskip("torch")


def test_stat_and_fit():
    s = Stat([3.0, 1.0, 2.0])
    assert (s.median, s.low, s.high) == (2.0, 1.0, 3.0)
    assert s.fmt(1, "s") == "2.0 s (1.0-3.0)"
    assert loglog_slope([10, 100, 1000], [2.0, 20.0, 200.0]) == pytest.approx(1.0)
    assert loglog_slope([10, 100], [1.0, 100.0]) == pytest.approx(2.0)
    assert table([["a", "1"]], ["x", "y"]).splitlines()[0] == "| x | y |"


def test_child_peak_memory_is_its_own(tmp_path):
    big = torch.ones(50_000_000)  # 200 MB here must not show up in the child's peak
    r = run([sys.executable, "-c", "pass"], cwd=tmp_path, rss=True)
    assert 0 < r.max_rss_kb < 100 * 1024
    del big


def test_scaling_specs_compile():
    res = scaling.measure([4, 9], reps=1)
    assert all(res["inproc"][n].median > 0 for n in (4, 9))
    assert math.isfinite(res["exponent"])
    rows, notes = scaling.report(res)
    assert [r[0] for r in rows] == ["4", "9"] and notes


def test_compile_time_one_spec():
    res = compile_time.measure(1, [ROOT / "specs" / "vae.gen"], baselines=False)
    assert set(res["stats"]) == {"python -c pass", "compile vae.gen", "check (all specs)"}
    assert not res["imports"]["check"]["heavy"]["torch"]
    rows, _ = compile_time.report(res)
    assert len(rows) == 3


def test_throughput_curve(tmp_path):
    res = throughput.measure(["vae"], batch_sizes=(2, 4), min_seconds=0.0, reps=1, plot_path=tmp_path / "t.png")
    assert (tmp_path / "t.png").stat().st_size > 1000
    assert all(res["models"]["vae"][b].median > 0 for b in (2, 4))


@pytest.mark.parametrize("model", training.available())
def test_same_initial_parameters_as_the_reference(model):
    result = training.same_initial_parameters(model)
    assert result["equal"], result["mismatch"]
    assert result["tensors"] > 0


@pytest.mark.skipif("gan_mlp_2d" not in training.available(), reason="no generated gan_mlp_2d")
def test_first_losses_match_the_reference(tmp_path):
    # 5 steps of 3 per epoch (96 points, batch 32): across an epoch end, where train.py evaluates
    result = training.same_losses("gan_mlp_2d", tmp_path, steps=5)
    assert result["steps"] == 5
    assert result["equal"], result["first_difference"]


def test_quick_cli_scaling_section(capsys):
    assert bench_main.main(["--quick", "--only", "scaling", "--no-write"]) == 0
    out = capsys.readouterr().out
    assert "## 5. Scaling" in out and "## Machine" in out and "Fitted exponent" in out


def test_steps_in_process():
    assert training.vae_step_in_process(rounds=1, steps=2).median > 0
    assert training.gan_step_in_process(rounds=1, steps=2).median > 0


def test_flags_report_marks_noise_and_a_slower_compile():
    from bench import flags

    def cfg(rate, ratio):
        return {"rate": rate, "ratio": ratio, "cmd": "python train.py", "error": None}

    result = {"vae": {"configs": {"(none)": cfg(200.0, 1.0), "--fused": cfg(float("nan"), None),
                                  "--compile": cfg(150.0, 0.75)}}}
    rows, notes = flags.report(result)
    assert rows[1][2] == "too noisy" and rows[1][3] == "-"
    assert rows[2][3] == "0.750"
    assert any("`--compile` is slower for vae" in n and "0.75" in n for n in notes)
    result["vae"]["configs"]["--compile"] = cfg(210.0, 1.05)
    assert not any("--compile" in n for n in flags.report(result)[1])


def test_variants_chain_resolves_and_reports(capsys):
    """The three-level chain of bench/variants.py compiles, its flat form is the same model, and the
    report has the figure (the ratio's value is not asserted: tests never depend on timing)."""
    from bench import variants

    result = variants.measure(reps=1, process_reps=1)
    lines = variants.report(result)
    assert lines[0].startswith("## Variants") and any("within 1.5x" in line for line in lines)
    assert result["ratio_inproc"] > 0
