"""gendsl.check.graph against networkx, whose API it copies for the checker (without its import time)."""

import networkx as nx
from hypothesis import given, settings
from hypothesis import strategies as st

from gendsl.check import graph as g

NAMES = [f"n{i}" for i in range(8)]

graphs = st.tuples(
    st.lists(st.sampled_from(NAMES), unique=True, max_size=8),
    st.lists(st.tuples(st.sampled_from(NAMES), st.sampled_from(NAMES)), max_size=20),
)


def build(nodes, edges):
    ours, theirs = g.DiGraph(), nx.DiGraph()
    for i, n in enumerate(nodes):
        ours.add_node(n, index=i)
        theirs.add_node(n, index=i)
    for u, v in edges:
        ours.add_edge(u, v)
        theirs.add_edge(u, v)
    return ours, theirs


@settings(max_examples=300, deadline=None)
@given(graphs)
def test_same_as_networkx(spec):
    ours, theirs = build(*spec)
    assert list(ours) == list(theirs)
    assert ours.nodes == dict(theirs.nodes(data=True))
    assert all(ours.has_edge(u, v) == theirs.has_edge(u, v) for u in NAMES for v in NAMES)
    assert sorted(map(sorted, g.strongly_connected_components(ours))) == \
        sorted(map(sorted, nx.strongly_connected_components(theirs)))
    try:
        expected = list(nx.find_cycle(theirs))
    except nx.NetworkXNoCycle:
        expected = None
    try:
        found = g.find_cycle(ours)
    except g.NetworkXNoCycle:
        found = None
    assert found == expected
    key = {n: (len(n) * 7 + i * 3) % 5 for i, n in enumerate(NAMES)}.get  # many ties: insertion order decides
    if expected is None:
        assert g.lexicographical_topological_sort(ours, key=key) == \
            list(nx.lexicographical_topological_sort(theirs, key=key))
    else:
        try:
            g.lexicographical_topological_sort(ours, key=key)
            raise AssertionError("a graph with a cycle was sorted")
        except g.NetworkXUnfeasible:
            pass


@settings(max_examples=200, deadline=None)
@given(graphs, st.lists(st.sampled_from(NAMES), max_size=8))
def test_subgraph_keeps_the_graph_order(spec, keep):
    ours, theirs = build(*spec)
    sub = ours.subgraph(keep)
    assert list(sub) == [n for n in ours if n in set(keep)]
    their_sub = nx.DiGraph()
    their_sub.add_nodes_from(list(sub))
    their_sub.add_edges_from((u, v) for u, v in theirs.edges if u in sub and v in sub)
    assert all(sub.has_edge(u, v) == their_sub.has_edge(u, v) for u in NAMES for v in NAMES)
    try:
        expected = list(nx.find_cycle(their_sub))
    except nx.NetworkXNoCycle:
        expected = None
    try:
        assert g.find_cycle(sub) == expected
    except g.NetworkXNoCycle:
        assert expected is None


def test_cycle_in_a_small_subgraph_does_not_depend_on_hash_order():
    ours = g.DiGraph()
    for i in range(10):
        ours.add_node(f"s{i}")
    ours.add_edge("s7", "s5")
    ours.add_edge("s5", "s6")
    ours.add_edge("s6", "s7")
    group = next(c for c in g.strongly_connected_components(ours) if len(c) > 1)
    assert g.find_cycle(ours.subgraph(group)) == [("s5", "s6"), ("s6", "s7"), ("s7", "s5")]
