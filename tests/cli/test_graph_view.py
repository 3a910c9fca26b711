"""`gendsl graph`: the model graph of every catalogue spec, its DOT/Mermaid text and its pictures."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from gendsl.cli import main
from gendsl.driver import compile_path
from gendsl.graph_view import GraphError, graph_output, model_graph, render_picture, to_dot, to_mermaid

ROOT = Path(__file__).resolve().parents[2]
SPECS = sorted((ROOT / "specs").glob("*.gen"))
GOLDEN = Path(__file__).resolve().parents[1] / "graph"


def model(path):
    result = compile_path(str(path), emit_files=False)
    assert result.ok
    return result.model


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.stem)
def test_graph_has_every_network_layer_value_and_loss(path):
    m = model(path)
    g = model_graph(m)
    clusters = g.graph["clusters"]
    for net in m.networks:
        assert f"{net.param_count:,} parameters" in clusters[net.name]
        layers = [n for n, d in g.nodes(data=True) if d.get("cluster") == net.name and d["kind"] == "layer"]
        assert len(layers) == len(net.layers)
        for layer, node in zip(net.layers, sorted(layers, key=lambda n: int(n.rsplit(":", 1)[1]))):
            assert str(layer.out) in g.nodes[node]["label"]
            assert (f"{layer.params:,} params" in g.nodes[node]["label"]) == bool(layer.params)
    assert {f"data:{d.name}" for d in m.data} <= set(g.nodes)
    for lat in m.latents:
        assert f"~ {lat.prior}(" in g.nodes[f"latent:{lat.name}"]["label"]
    assert len([n for n in g.nodes if n.startswith("loss:")]) == len(m.terms)
    for k, term in enumerate(m.terms):
        assert term.text in g.nodes[f"loss:{k}"]["label"]
        assert g.in_degree(f"loss:{k}") >= 1
    if m.gan is not None:
        d_inputs = [n for n in g.nodes if n.startswith(f"{m.gan.discriminator}:in:")]
        sides = {g.edges[e].get("label") for n in d_inputs for e in g.in_edges(n)}
        assert any("real" in (s or "") for s in sides) and any("fake" in (s or "") for s in sides)
        assert any(g.edges[e].get("label") == "scores" for e in g.in_edges("gan"))
    # every network is connected to the rest of the model
    for net in m.networks:
        assert any(g.in_degree(n) for n in g.nodes if n.startswith(f"{net.name}:in:")), net.name


FLAT = sorted((ROOT / "tests" / "catalogue_flat").glob("*.gen"))


@pytest.mark.parametrize("flat", FLAT, ids=lambda p: p.stem)
def test_a_variant_draws_as_the_same_model_written_in_one_file(flat):
    """specs/cvae.gen extends vae.gen; tests/catalogue_flat/cvae.gen is the same model in one file."""
    variant = model(ROOT / "specs" / flat.name)
    assert to_dot(model_graph(variant)) == to_dot(model_graph(model(flat)))
    assert to_mermaid(model_graph(variant)) == to_mermaid(model_graph(model(flat)))


def test_weighted_and_scheduled_terms_show_their_weights():
    text = (ROOT / "tests" / "cases").glob("*/spec.gen")
    found = False
    for spec in text:
        m = model(spec)
        for k, term in enumerate(m.terms):
            if term.weight.schedules or term.weight.constant != 1.0:
                label = model_graph(m).nodes[f"loss:{k}"]["label"]
                assert "weight" in label
                for s in term.weight.schedules:
                    assert s in label
                found = True
    assert found, "no golden case has a weighted loss term any more"


def test_dot_golden():
    dot = to_dot(model_graph(model(ROOT / "specs" / "vae.gen")))
    golden = GOLDEN / "vae.dot"
    if os.environ.get("GENDSL_UPDATE_GOLDEN"):
        golden.write_text(dot)
    assert dot == golden.read_text()


def test_mermaid_has_a_subgraph_per_network():
    m = model(ROOT / "specs" / "cdcgan.gen")
    text = to_mermaid(model_graph(m))
    assert text.startswith("flowchart TD\n")
    assert text.count("    subgraph ") == len(m.networks) and text.count("    end\n") == len(m.networks)
    assert '-->|"real, fake"|' in text  # the labels go to the discriminator with both sides


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed (apt install graphviz)")
@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.stem)
def test_graphviz_draws_every_catalogue_spec(path):
    svg = render_picture(model_graph(model(path)), "svg", "dot")
    assert svg.lstrip().startswith(b"<?xml") and b"<svg" in svg


def test_matplotlib_draws_without_graphviz():
    g = model_graph(model(ROOT / "specs" / "dcgan.gen"))
    assert render_picture(g, "png", "matplotlib").startswith(b"\x89PNG\r\n\x1a\n")
    assert b"<svg" in render_picture(g, "svg", "matplotlib")


def test_missing_graphviz_says_what_to_install(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(GraphError, match="apt install graphviz"):
        graph_output(model(ROOT / "specs" / "vae.gen"), "svg", "dot")


def test_graph_command_follows_the_output_suffix(tmp_path, capsys):
    assert main(["graph", str(ROOT / "specs" / "vae.gen"), "-o", str(tmp_path / "vae.mmd")]) == 0
    assert (tmp_path / "vae.mmd").read_text().startswith("flowchart TD")
    assert main(["graph", str(ROOT / "specs" / "vae.gen"), "--format", "png", "--renderer", "matplotlib",
                 "-o", str(tmp_path / "vae.png")]) == 0
    assert (tmp_path / "vae.png").read_bytes()[:4] == b"\x89PNG"
    assert main(["graph", str(ROOT / "specs" / "vae.gen")]) == 0
    assert capsys.readouterr().out.startswith('digraph "vae" {')


def test_graph_of_a_broken_spec_prints_diagnostics(tmp_path, capsys):
    bad = tmp_path / "bad.gen"
    bad.write_text("model m\nparam = 1\n")
    assert main(["graph", str(bad)]) == 1
    assert "error[E0101]" in capsys.readouterr().err
