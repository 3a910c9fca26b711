"""`python train.py export` (gendsl/runtime/export.py): a checkpoint's generate/encode/decode as
torch.export programs and ONNX files with a dynamic batch dimension.

Each test trains a catalogue model for a few dry-run steps (a checkpoint), exports it in this
process, and checks the files itself: onnx's checker, onnxruntime's outputs against the model's at
a batch size other than the traced one, and the reloaded torch.export program's outputs.
"""

from __future__ import annotations

import json
import sys

import pytest
import torch

from train_support import SPECS, compile_to, imported

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::DeprecationWarning",
                                        "ignore::FutureWarning")
onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxscript")
onnxruntime = pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """spec -> (folder of its generated code, its checkpoint after 3 dry-run steps)."""
    root = tmp_path_factory.mktemp("export")
    done = {}

    def get(name: str):
        if name not in done:
            folder = compile_to(root, SPECS / f"{name}.gen")
            with imported(folder) as train:
                assert train.main(["--quiet", "--no-plots", "--dry-run", "--batch-size", "4",
                                   "--out", str(root / f"run_{name}")]) == 0
            done[name] = folder, root / f"run_{name}" / "checkpoints" / "last.pt"
        return done[name]
    return get


def export(folder, *argv) -> int:
    with imported(folder) as train:
        return train.main(["export", *map(str, argv)])


def model_of(folder, checkpoint):
    """The checkpoint's model, as the runtime loads it, and its recipe."""
    with imported(folder) as train:
        loop = sys.modules[type(train.RECIPE).__module__]
        return loop.load_model(train.RECIPE, checkpoint, torch.device("cpu")), train.RECIPE


def batch_dims(path):
    graph = onnx.load(str(path)).graph
    return [v.type.tensor_type.shape.dim[0].dim_param for v in [*graph.input, *graph.output]]


def test_vae_exports_generate_encode_and_decode_that_match_torch_at_another_batch_size(trained, tmp_path, capsys):
    folder, checkpoint = trained("vae")
    out = tmp_path / "export"
    assert export(folder, "--checkpoint", checkpoint, "--out", out) == 0
    printed = capsys.readouterr().out
    for method in ("generate", "encode", "decode"):
        assert f"{method}: " in printed and "onnx checker passed" in printed
    report = json.loads((out / "export.json").read_text())
    assert list(report["methods"]) == ["generate", "encode", "decode"]
    assert report["methods"]["encode"]["inputs"] == [{"name": "x", "shape": ["batch", 1, 28, 28],
                                                      "dtype": "torch.float32"}]
    assert report["methods"]["decode"]["output"]["shape"] == ["batch", 1, 28, 28]
    model, recipe = model_of(folder, checkpoint)
    torch.manual_seed(0)
    x = torch.rand(7, 1, 28, 28)
    with torch.no_grad():
        expected = {"generate": (torch.randn(7, 20),), "encode": (x,), "decode": (model.encode(x),)}
        for method, inputs in expected.items():
            want = getattr(model, method)(*inputs)
            path = out / f"{method}.onnx"
            onnx.checker.check_model(str(path), full_check=True)
            assert set(batch_dims(path)) == {"batch"}
            session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
            names = [i.name for i in session.get_inputs()]
            got = session.run(None, {n: t.numpy() for n, t in zip(names, inputs)})[0]
            assert got.shape == tuple(want.shape)
            torch.testing.assert_close(torch.from_numpy(got), want, rtol=1e-4, atol=1e-5)
            program = torch.export.load(str(out / f"{method}.pt2"))
            torch.testing.assert_close(program.module()(*inputs), want, rtol=0, atol=0)
            assert report["methods"][method]["onnxruntime_max_abs_diff"] < 1e-4


def test_conditional_generator_takes_its_labels(trained, tmp_path):
    folder, checkpoint = trained("cvae")
    out = tmp_path / "export"
    assert export(folder, "--checkpoint", checkpoint, "--out", out, "--onnx") == 0
    assert sorted(p.name for p in out.iterdir()) == ["export.json", "generate.onnx"]  # --onnx: no .pt2
    model, _ = model_of(folder, checkpoint)
    z, y = torch.randn(9, 20), torch.arange(9) % 10
    session = onnxruntime.InferenceSession(str(out / "generate.onnx"), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["z", "y"]
    got = session.run(None, {"z": z.numpy(), "y": y.numpy()})[0]
    with torch.no_grad():
        torch.testing.assert_close(torch.from_numpy(got), model.generate(z, y), rtol=1e-4, atol=1e-5)


def test_torch_export_only_and_a_missing_checkpoint(trained, tmp_path, capsys):
    folder, checkpoint = trained("cvae")
    out = tmp_path / "export"
    assert export(folder, "--checkpoint", checkpoint, "--out", out, "--torch-export") == 0
    assert sorted(p.name for p in out.iterdir()) == ["export.json", "generate.pt2"]
    with pytest.raises(SystemExit, match="does not exist"):
        export(folder, "--checkpoint", tmp_path / "absent.pt", "--out", out)


def test_image_to_image_generator_exports_as_a_network(trained, tmp_path, capsys):
    """pix2pix has no generate/encode/decode: export says so and names its networks; `--network G`
    exports the translator, whose example input is what validate hands it (the edge image `a`)."""
    folder, checkpoint = trained("pix2pix")
    out = tmp_path / "export"
    with pytest.raises(SystemExit, match=r"none of generate, encode, decode .* --network NAME \(G, D\)"):
        export(folder, "--checkpoint", checkpoint, "--out", out)
    with pytest.raises(SystemExit, match="no network 'E'; its networks: G, D"):
        export(folder, "--checkpoint", checkpoint, "--out", out, "--network", "E")
    assert export(folder, "--checkpoint", checkpoint, "--out", out, "--network", "G") == 0
    assert "G: " in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == ["G.onnx", "G.pt2", "export.json"]
    report = json.loads((out / "export.json").read_text())
    assert "methods" not in report
    assert report["networks"]["G"]["inputs"] == [{"name": "a", "shape": ["batch", 1, 32, 32],
                                                  "dtype": "torch.float32"}]
    assert report["networks"]["G"]["output"] == {"name": "output", "shape": ["batch", 1, 32, 32],
                                                 "dtype": "torch.float32"}
    model, _ = model_of(folder, checkpoint)
    a = torch.rand(7, 1, 32, 32) * 2 - 1
    with torch.no_grad():
        want = model.G(a)
        got = torch.export.load(str(out / "G.pt2")).module()(a)
    torch.testing.assert_close(got, want, rtol=0, atol=0)
    session = onnxruntime.InferenceSession(str(out / "G.onnx"), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["a"]
    torch.testing.assert_close(torch.from_numpy(session.run(None, {"a": a.numpy()})[0]), want, rtol=1e-4, atol=1e-5)


def test_a_network_of_several_outputs_and_inputs(trained, tmp_path):
    """cvae's encoder takes (x, y) and returns (mu, logvar): two named inputs, two outputs."""
    folder, checkpoint = trained("cvae")
    out = tmp_path / "export"
    assert export(folder, "--checkpoint", checkpoint, "--out", out, "--network", "enc", "--onnx") == 0
    entry = json.loads((out / "export.json").read_text())["networks"]["enc"]
    assert [i["name"] for i in entry["inputs"]] == ["x", "y"] and entry["inputs"][1]["dtype"] == "torch.int64"
    assert [o["name"] for o in entry["outputs"]] == ["output_0", "output_1"]
    model, _ = model_of(folder, checkpoint)
    x, y = torch.rand(6, 1, 28, 28), torch.arange(6) % 10
    session = onnxruntime.InferenceSession(str(out / "enc.onnx"), providers=["CPUExecutionProvider"])
    got = session.run(None, {"x": x.numpy(), "y": y.numpy()})
    with torch.no_grad():
        for g, w in zip(got, model.enc(x, y)):
            torch.testing.assert_close(torch.from_numpy(g), w, rtol=1e-4, atol=1e-5)
