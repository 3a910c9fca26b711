"""The few networkx graph functions the checker uses, without importing networkx.

Importing networkx takes about 0.1 s, a third of a whole `gendsl compile`, for
graphs of a few dozen nodes. This module has the same names and results for
what the checker calls: `DiGraph` (nodes with attributes, `add_edge`,
`has_edge`, `subgraph`), `strongly_connected_components`, `find_cycle` and
`lexicographical_topological_sort`; tests/test_graph.py compares them with
networkx on random graphs.

One difference, on purpose: a subgraph lists its nodes in the order of the
graph it was taken from. A networkx subgraph of fewer than half the nodes lists
them in the order of a Python set, which changes with PYTHONHASHSEED, and
`find_cycle` starts from the first node listed, so the cycle a diagnostic shows
would change from run to run.
"""

from __future__ import annotations

import heapq
from typing import Any, Callable, Hashable, Iterable, Iterator


_END = object()


class NetworkXException(Exception):
    """Named like networkx's, so callers read the same."""


class NetworkXNoCycle(NetworkXException):
    pass


class NetworkXUnfeasible(NetworkXException):
    pass


class DiGraph:
    """A directed graph without parallel edges; nodes and edges keep insertion order."""

    def __init__(self) -> None:
        self.nodes: dict[Hashable, dict[str, Any]] = {}  # node -> attributes
        self._succ: dict[Hashable, dict[Hashable, None]] = {}

    def __contains__(self, node: Hashable) -> bool:
        return node in self.nodes

    def __iter__(self) -> Iterator[Hashable]:
        return iter(self.nodes)

    def __len__(self) -> int:
        return len(self.nodes)

    def add_node(self, node: Hashable, **attrs: Any) -> None:
        if node not in self.nodes:
            self.nodes[node] = {}
            self._succ[node] = {}
        self.nodes[node].update(attrs)

    def add_edge(self, u: Hashable, v: Hashable) -> None:
        self.add_node(u)
        self.add_node(v)
        self._succ[u][v] = None

    def has_edge(self, u: Hashable, v: Hashable) -> bool:
        return u in self._succ and v in self._succ[u]

    def successors(self, node: Hashable) -> Iterator[Hashable]:
        return iter(self._succ[node])

    def subgraph(self, nodes: Iterable[Hashable]) -> "DiGraph":
        """The subgraph induced by `nodes`, in this graph's order (node attributes are shared)."""
        keep = set(nodes)
        sub = DiGraph()
        for n, attrs in self.nodes.items():
            if n in keep:
                sub.nodes[n] = attrs
                sub._succ[n] = {}
        for n in sub.nodes:
            sub._succ[n] = {v: None for v in self._succ[n] if v in keep}
        return sub


def lexicographical_topological_sort(graph: DiGraph, key: Callable[[Hashable], Any] | None = None) -> list:
    """The nodes in topological order; among the nodes ready at a time, the one with the smallest key
    (then the first inserted) comes first. Raises NetworkXUnfeasible on a cycle."""
    if key is None:
        def key(node):
            return node
    index = {n: i for i, n in enumerate(graph.nodes)}
    indegree = dict.fromkeys(graph.nodes, 0)
    for n in graph.nodes:
        for v in graph._succ[n]:
            indegree[v] += 1
    ready = [(key(n), index[n], n) for n, d in indegree.items() if d == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        _, _, node = heapq.heappop(ready)
        order.append(node)
        for child in graph._succ[node]:
            indegree[child] -= 1
            if indegree[child] == 0:
                heapq.heappush(ready, (key(child), index[child], child))
    if len(order) != len(graph.nodes):
        raise NetworkXUnfeasible("Graph contains a cycle or graph changed during iteration")
    return order


def strongly_connected_components(graph: DiGraph) -> list[set]:
    """The node sets of the strongly connected components (Tarjan's algorithm, without recursion)."""
    index: dict[Hashable, int] = {}
    low: dict[Hashable, int] = {}
    on_stack: set[Hashable] = set()
    stack: list[Hashable] = []
    components: list[set] = []
    for root in graph.nodes:
        if root in index:
            continue
        work = [(root, iter(graph._succ[root]))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, _END)
            if child is not _END:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(graph._succ[child])))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                components.append(component)
    return components


def find_cycle(graph: DiGraph) -> list[tuple[Hashable, Hashable]]:
    """The edges of one cycle, found as networkx finds it: a depth-first walk over the edges from each
    node in order, the cycle starting at the node where the walk closed it. Raises NetworkXNoCycle."""
    explored: set[Hashable] = set()
    for start in graph.nodes:
        if start in explored:
            continue
        edges: list[tuple[Hashable, Hashable]] = []
        seen = {start}
        active = {start}
        previous_head = None
        for tail, head in _edge_dfs(graph, start):
            if head in explored:
                continue
            if previous_head is not None and tail != previous_head:
                # backtracking: drop edges until the path ends at `tail`
                while True:
                    if not edges:
                        active = {tail}
                        break
                    active.remove(edges.pop()[1])
                    if edges and edges[-1][1] == tail:
                        break
            edges.append((tail, head))
            if head in active:  # the walk closed a cycle at `head`: drop the edges leading to it
                i = next((i for i, (t, _) in enumerate(edges) if t == head), len(edges) - 1)
                return edges[i:]
            seen.add(head)
            active.add(head)
            previous_head = head
        explored |= seen
    raise NetworkXNoCycle("No cycle found.")


def _edge_dfs(graph: DiGraph, start: Hashable) -> Iterator[tuple[Hashable, Hashable]]:
    """Each edge reachable from `start` once, in depth-first order (networkx's `edge_dfs`)."""
    visited_nodes: set[Hashable] = set()
    visited_edges: set[tuple[Hashable, Hashable]] = set()
    pending: dict[Hashable, Iterator[Hashable]] = {}
    stack = [start]
    while stack:
        node = stack[-1]
        if node not in visited_nodes:
            pending[node] = iter(graph._succ[node])
            visited_nodes.add(node)
        child = next(pending[node], _END)
        if child is _END:
            stack.pop()
            continue
        if (node, child) not in visited_edges:
            visited_edges.add((node, child))
            stack.append(child)
            yield node, child
