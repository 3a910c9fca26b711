"""`perceptual(vgg16, a, b)`: torchvision's pretrained feature network, checked, generated and wired.

The tests use `--feature-weights none` (random weights): this machine cannot download ImageNet weights, and
what is tested is the wiring (input conversion, the kept layers, frozen, the loss term), not the weights.
"""

from __future__ import annotations

from urllib.error import URLError

import pytest
import torch

from gendsl.check.loss import PRETRAINED, pretrained_layers, pretrained_output
from gendsl.driver import compile_source
from gendsl.runtime.data import DataError, pretrained_features
from gendsl.source import SourceFile
from train_support import ROOT, assert_finite, compile_to, imported

CASE = ROOT / "tests" / "cases" / "perceptual_vgg" / "spec.gen"

SPEC = """model m
data x: image[{c}, {h}, {h}] in [0, 1]
encoder enc(x) -> [8] {{ flatten -> linear(8) }}
decoder dec(code: [8]) -> [{c}, {h}, {h}] {{ linear({n}) -> sigmoid -> reshape({c}, {h}, {h}) }}
forward {{
    code = enc(x)
    x_hat = dec(code)
}}
loss = mse(x_hat, x) + perceptual({term})
"""


def check(term: str, c: int = 1, h: int = 8):
    return compile_source(SourceFile("m.gen", SPEC.format(c=c, h=h, n=c * h * h, term=term)), emit_files=False)


@pytest.mark.parametrize("arch", sorted(PRETRAINED))
def test_layer_table_matches_torchvision(arch):
    import torchvision

    features = torchvision.models.get_model(arch, weights=None).features
    assert len(features) == pretrained_layers(arch)
    for layers in (PRETRAINED[arch][1], 4, 5, 9, pretrained_layers(arch)):
        with torch.no_grad():
            out = features[:layers](torch.zeros(1, 3, 64, 48))
        assert tuple(out.shape[1:]) == pretrained_output(arch, layers, (3, 64, 48))


def test_checked_term_names_the_network_and_its_output():
    result = check("vgg16, x_hat, x")
    assert result.ok, [d.message for d in result.diagnostics]
    term = next(t for t in result.model.terms if t.kind == "perceptual")
    assert term.options["pretrained"] == {"name": "pretrained_vgg16", "arch": "vgg16", "layers": 16}
    assert term.options["feature_type"].shape == (256, 2, 2)
    assert term.args == ["x_hat", "x"]
    assert "pretrained_vgg16" not in result.model.reaches  # not trained, not a spec network
    result = check("vgg19, x_hat, x, layers=9", c=3, h=16)
    assert result.ok and result.model.terms[-1].options["features"] == "pretrained_vgg19_9"


@pytest.mark.parametrize("term,c,h,code,message", [
    ("vgg16, x_hat, x, layers=99", 1, 8, "E0220", "has 31 layers"),
    ("vgg16, x_hat, x, layers=24", 1, 8, "E0303", "too small for the first 24 layers"),
    ("vgg16, x_hat, x, layers=0", 1, 8, "E0220", "at least 1"),
])
def test_bad_pretrained_terms_are_reported(term, c, h, code, message):
    result = check(term, c, h)
    assert not result.ok
    assert [(d.code, message in d.message) for d in result.diagnostics if d.is_error] == [(code, True)]


def test_pretrained_features_converts_inputs_and_is_frozen():
    import torchvision

    net = pretrained_features("vgg16", 9, "none", (-1.0, 1.0), 1)
    assert not net.training and not any(p.requires_grad for p in net.parameters())
    x = torch.rand(2, 1, 8, 8, generator=torch.Generator().manual_seed(0)) * 2 - 1
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    expected = net[2](((x.repeat(1, 3, 1, 1) + 1) / 2 - mean) / std)
    assert torch.allclose(net(x), expected, atol=1e-5)
    assert len(net[2]) == 9 and isinstance(net[2], torch.nn.Sequential)
    assert type(net[2][4]).__name__ == "MaxPool2d"
    assert isinstance(pretrained_features("vgg16", 4, "none", None, 3)[0], torch.nn.Identity)
    assert torchvision.models.get_model_weights("vgg16").DEFAULT.url.endswith("vgg16-397923af.pth")


def test_offline_weights_error_says_which_file_to_place_where(monkeypatch, tmp_path):
    def offline(url, **kwargs):
        raise URLError("no network")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(DataError) as info:
        pretrained_features("vgg16", 9, "imagenet", (0.0, 1.0), 1)
    message = str(info.value)
    assert "https://download.pytorch.org/models/vgg16-397923af.pth" in message
    assert f"place it in '{tmp_path / 'hub' / 'checkpoints'}'" in message
    with pytest.raises(DataError, match="cannot load weights for `vgg16` from"):
        pretrained_features("vgg16", 9, str(tmp_path / "missing.pth"), (0.0, 1.0), 1)


def test_generated_train_py_trains_with_the_frozen_network(tmp_path):
    folder = compile_to(tmp_path, CASE)
    out = tmp_path / "run"
    with imported(folder) as train:
        assert train.RECIPE.pretrained == (("pretrained_vgg16_9", "vgg16", 9),)
        assert train.main(["--dry-run", "--quiet", "--feature-weights", "none", "--batch-size", "8", "--steps", "3",
                           "--out", str(out)]) == 0
    rows = assert_finite(out / "losses.csv")
    assert all(float(r["perceptual"]) > 0 for r in rows if r["split"] == "train")
    state = torch.load(out / "checkpoints" / "last.pt", weights_only=True)
    optimized = [p for opt in state["optimizers"].values() for g in opt["param_groups"] for p in g["params"]]
    assert len(optimized) == 6  # weight and bias of enc's two linear layers and dec's one; none of vgg16's
    # an attribute of the model, so the checkpoint (and a resume) holds it with the rest
    assert any(k.startswith("pretrained_vgg16_9.") for k in state["model"])


def test_generated_train_py_reports_missing_weights_without_a_traceback(tmp_path, monkeypatch, capsys):
    def offline(url, **kwargs):
        raise URLError("no network")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    folder = compile_to(tmp_path, CASE)
    with imported(folder) as train:
        assert train.main(["--dry-run", "--quiet", "--steps", "1", "--out", str(tmp_path / "run")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: could not download the weights of `vgg16`") and "place it in" in err
