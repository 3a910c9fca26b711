"""Cycles of a dependency graph (parameters, a network's statements), found with networkx, in a fixed order.

networkx answers from its own iteration order: a subgraph view of fewer than
half the nodes lists them in the order of a Python set, which changes with
PYTHONHASHSEED, and `find_cycle` starts from the first node listed. A cycle a
diagnostic shows must not change from run to run, so each group of nodes that
read each other is copied into a graph of its own in the original graph's
order before `find_cycle` walks it.
"""

from __future__ import annotations

from typing import Callable, Hashable

import networkx as nx


def cycles(graph: nx.DiGraph, order: Callable[[Hashable], object]) -> list[tuple[set, list[tuple]]]:
    """Each group of nodes on a cycle (a strongly connected component with an edge inside it), with the
    edges of one cycle through it; groups sorted by their first node under `order`."""
    groups = [c for c in nx.strongly_connected_components(graph)
              if len(c) > 1 or any(graph.has_edge(n, n) for n in c)]
    found = []
    for group in sorted(groups, key=lambda c: min(order(n) for n in c)):
        found.append((group, nx.find_cycle(induced(graph, group))))
    return found


def induced(graph: nx.DiGraph, nodes) -> nx.DiGraph:
    """The subgraph on `nodes` as a new graph whose nodes and edges keep `graph`'s order."""
    keep = set(nodes)
    sub = nx.DiGraph()
    sub.add_nodes_from((n, graph.nodes[n]) for n in graph if n in keep)
    sub.add_edges_from((u, v) for u, v in graph.edges if u in keep and v in keep)
    return sub
