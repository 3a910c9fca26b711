"""The checker's networkx graphs: the layer graph's cycles in a fixed order, and the model graph's reachability."""

import os
import subprocess
import sys
from pathlib import Path

import networkx as nx
from hypothesis import given, settings
from hypothesis import strategies as st

from gendsl import driver
from gendsl.check.cycles import cycles, induced
from gendsl.check.flow import FlowChecker

ROOT = Path(__file__).resolve().parents[2]
NAMES = [f"n{i}" for i in range(8)]

graphs = st.tuples(
    st.lists(st.sampled_from(NAMES), unique=True, max_size=8),
    st.lists(st.tuples(st.sampled_from(NAMES), st.sampled_from(NAMES)), max_size=20),
)


def build(nodes, edges):
    graph = nx.DiGraph()
    for i, n in enumerate(nodes):
        graph.add_node(n, index=i)
    graph.add_edges_from(edges)
    return graph


@settings(max_examples=200, deadline=None)
@given(graphs, st.lists(st.sampled_from(NAMES), max_size=8))
def test_induced_subgraph_keeps_the_graph_order_and_edges(spec, keep):
    graph = build(*spec)
    sub = induced(graph, keep)
    assert list(sub) == [n for n in graph if n in set(keep)]
    assert list(sub.edges) == [(u, v) for u, v in graph.edges if u in sub and v in sub]
    assert all(sub.nodes[n] == graph.nodes[n] for n in sub)


@settings(max_examples=200, deadline=None)
@given(graphs)
def test_cycles_are_the_components_with_an_inner_edge_and_each_cycle_is_closed(spec):
    graph = build(*spec)
    index = {n: i for i, n in enumerate(graph)}
    found = cycles(graph, index.get)
    expected = [c for c in nx.strongly_connected_components(graph) if len(c) > 1 or graph.has_edge(*[*c] * 2)]
    assert sorted(map(sorted, (g for g, _ in found))) == sorted(map(sorted, expected))
    assert [min(index[n] for n in g) for g, _ in found] == sorted(min(index[n] for n in g) for g, _ in found)
    for group, cycle in found:
        assert all(graph.has_edge(u, v) and u in group and v in group for u, v in cycle)
        assert all(cycle[i][1] == cycle[(i + 1) % len(cycle)][0] for i in range(len(cycle)))
    assert nx.is_directed_acyclic_graph(induced(graph, (n for n in graph if not any(n in g for g, _ in found))))


def test_cycle_in_a_small_group_does_not_depend_on_hash_order():
    graph = nx.DiGraph()
    graph.add_nodes_from(f"s{i}" for i in range(10))
    graph.add_edges_from([("s7", "s5"), ("s5", "s6"), ("s6", "s7")])
    order = {n: i for i, n in enumerate(graph)}.get
    assert cycles(graph, order)[0][1] == [("s5", "s6"), ("s6", "s7"), ("s7", "s5")]


def test_cycle_diagnostics_are_the_same_under_every_hash_seed():
    """networkx answers in set order for small subgraphs: the shown cycle must not move with PYTHONHASHSEED."""
    cases = ["tests/diagnostics/E0309_network_cycle.gen", "tests/diagnostics/E0218_parameter_cycle.gen"]
    outputs = set()
    for seed in ("0", "1", "2", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(ROOT)}
        proc = subprocess.run([sys.executable, "-m", "gendsl", "check", *cases], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 1
        outputs.add(proc.stderr)
    assert len(outputs) == 1
    assert outputs.pop() == "".join((ROOT / c).with_suffix(".expected").read_text() for c in cases)


def _checked(rel):
    result = driver.compile_path(str(ROOT / rel), emit_files=False)
    assert result.model is not None, result.diagnostics
    return result.model


def test_each_network_reaches_the_loss_terms_computed_from_it():
    vae = _checked("specs/vae.gen")
    assert vae.reaches == {"dec": ["bce"], "enc": ["bce", "kl"]}
    gan = _checked("specs/dcgan.gen")
    assert gan.reaches == {"netD": ["gan"], "netG": ["gan"]}


def test_model_graph_answers_dependencies_and_paths():
    flow = FlowChecker.__new__(FlowChecker)
    flow.graph = nx.DiGraph()
    flow.graph.add_node("x", kind="data")
    flow.spans = {"code": None, "x_hat": None, "spare": None}
    flow.add_value("code", ["x"], "enc")
    flow.add_value("x_hat", ["code"], "dec")
    flow.add_value("spare", ["x"], "enc")
    flow.graph.add_edges_from([("x_hat", ("term", "mse")), ("x", ("term", "mse"))])
    assert flow.depends("x_hat") == {"enc", "dec"} and flow.depends("x") == set()
    assert flow.computed_from("x_hat", "x") and not flow.computed_from("x", "x_hat")
    assert not flow.computed_from("spare", "code")
    assert flow.terms_reached() == {"enc": ["mse"], "dec": ["mse"]}
    assert flow.unused_values() == ["spare"]
