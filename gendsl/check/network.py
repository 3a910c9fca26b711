"""One network's layer graph: resolve names, bind arguments, infer every shape.

Statements are nodes of a networkx graph with an edge from each tensor a
statement reads. Names may be used before the statement that defines them;
a cycle is an error. Shapes are inferred in topological order (source order
breaks ties), so the generated `forward` reads top to bottom like the spec.
"""

from __future__ import annotations

import math
from dataclasses import replace

import networkx as nx

from gendsl import ir
from gendsl.check.cycles import cycles, induced
from gendsl.check.layers import OPS, REQUIRED, Op, ShapeError
from gendsl.check.names import check_identifier
from gendsl.check.result import CheckedNetwork, Layer
from gendsl.check.types import TensorType
from gendsl.check.values import Env, Symbol, as_int, describe, evaluate, evaluate_choice
from gendsl.diagnostics import CompileError, Reporter, choices_text, did_you_mean, error
from gendsl.source import Span

MAX_PARAMS = 10**10  # about 40 GB of float32 weights: surely a typo
MAX_ACTIVATION = 2**30  # values per sample in one tensor: 4 GiB of float32 for a single sample
HISTORY = 9  # shapes kept per value for notes: shape_chain shows the last 8 and whether there were more


class NetworkChecker:
    def __init__(self, net: ir.Network, input_types: list[TensorType | None], env: Env, reporter: Reporter,
                 line_of=None):
        self.net = net
        self.line_of = line_of  # offset -> line number, for messages
        self.env = env
        self.reporter = reporter
        self.input_types = input_types
        self.graph = nx.DiGraph()
        self.names: dict[str, Span] = {}  # tensor names: inputs and named statements
        self.types: dict[str, TensorType | None] = {}  # statement key -> output type
        self.history: dict[str, list[TensorType]] = {}
        self.layers: dict[int, list[Layer]] = {}
        self.output_histories: list[list[TensorType]] = []  # per output head: the shapes that led to it

    # -- names -------------------------------------------------------------------
    def _define(self, name: str, span: Span, what: str) -> bool:
        try:
            check_identifier(name, span, what)
            if name in OPS:
                raise error("E0205", f"`{name}` is a layer name and cannot name a tensor", span, "a layer name",
                            (), f"rename it, e.g. `{name}_out`")
        except CompileError as exc:
            self.reporter.add(exc.diagnostic)
            return False
        if name in self.names:
            self.reporter.error("E0202", f"`{name}` is defined twice in network `{self.net.name}`", span,
                                "defined again here", (), "give each named statement its own name",
                                ((self.names[name], f"`{name}` first defined here"),))
            return False
        self.names[name] = span
        return True

    def run(self) -> CheckedNetwork | None:
        net = self.net
        errors_before = self.reporter.error_count
        inputs = []
        for inp, t in zip(net.inputs, self.input_types):
            if self._define(inp.name, inp.span, "input"):
                self.graph.add_node(inp.name)
                self.types[inp.name] = t
                self.history[inp.name] = [t] if t else []
                inputs.append((inp.name, t))
        if not net.body:
            self.reporter.error("E0310", f"network `{net.name}` has no layers", net.name_span, "empty body", (),
                                "add its layers, e.g. `linear(64) -> relu`, or remove the network")
            return None

        # statement keys: their name, or `#i` for unnamed ones
        keys = []
        for i, stmt in enumerate(net.body):
            if stmt.name is not None and self._define(stmt.name, stmt.name_span, "statement"):
                keys.append(stmt.name)
            else:
                keys.append(f"#{i}")
            self.graph.add_node(keys[-1], index=i)

        sources: dict[int, list[tuple[str, Span]]] = {}
        for i, stmt in enumerate(net.body):
            previous = keys[i - 1] if i else (net.inputs[0].name if net.inputs else None)
            reads = self._reads(stmt, previous)
            sources[i] = reads
            for name, span in reads:
                if name in self.graph:
                    self.graph.add_edge(name, keys[i])

        cyclic = self._cycles(keys, sources)
        acyclic = induced(self.graph, (n for n in self.graph if n not in cyclic))
        order = list(nx.lexicographical_topological_sort(
            acyclic, key=lambda k: (-1, k) if "index" not in self.graph.nodes[k]
            else (self.graph.nodes[k]["index"], "")))
        for key in cyclic:
            self.types[key] = None  # reported: statements reading them stay quiet
        for key in order:
            if "index" not in self.graph.nodes[key]:
                continue
            i = self.graph.nodes[key]["index"]
            self._statement(i, key, net.body[i], sources[i])

        outputs = self._outputs(keys)
        errors_after = self.reporter.error_count
        if errors_after > errors_before or outputs is None or any(t is None for _, t, _ in outputs):
            return None
        layers = [layer for key in order if "index" in self.graph.nodes[key]
                  for layer in self.layers.get(self.graph.nodes[key]["index"], [])]
        self._assign_variables(layers, outputs, [name for name, _ in inputs])
        total = sum(layer.params for layer in layers)
        if total > MAX_PARAMS:
            self.reporter.error("E0311", f"network `{net.name}` has {total:,} parameters "
                                f"(about {total * 4 / 2**30:,.0f} GiB of float32 weights)", net.name_span,
                                "too large", (), "check the layer sizes; a dimension may be multiplied twice")
            return None
        for layer in layers:
            size = math.prod(layer.out.shape) if layer.out is not None else 0
            if size > MAX_ACTIVATION:
                self.reporter.error("E0316", f"`{layer.op}` outputs {size:,} values per sample "
                                    f"(about {size * 4 / 2**30:,.0f} GiB of float32 for one sample)", layer.span,
                                    f"output {layer.out}", (),
                                    "check the layer's arguments; a size or a scale may be a typo")
                return None
        return CheckedNetwork(net.role, net.name, inputs, outputs, layers, span=net.span)

    def _cycles(self, keys: list[str], sources) -> set[str]:
        """Report each group of statements that read each other in a circle; return their keys."""
        cyclic: set[str] = set()
        index = {k: i for i, k in enumerate(keys)}
        for group, cycle in cycles(self.graph, lambda k: index.get(k, -1)):
            cyclic |= group
            # each edge (u, v): statement v reads u; point at the read of a statement defined below
            reads = []
            for u, v in cycle:
                span = next((sp for name, sp in sources[index[v]] if name == u), self.net.body[index[v]].span)
                reads.append((u, v, span))
            backward = next((r for r in reads if index[r[0]] >= index[r[1]]), reads[0])

            def show(k):
                return f"`{k}`" if not k.startswith("#") else \
                    f"the statement on line {self._line(self.net.body[index[k]].span)}"
            u, v, span = backward
            if len(group) == 1:
                message = f"{show(v)} in network `{self.net.name}` reads its own output"
            else:
                shown = [show(k) for k in sorted(group, key=lambda k: index.get(k, -1))]
                message = f"statements {', '.join(shown[:-1])} and {shown[-1]} of network `{self.net.name}` " \
                    "read each other"
            related = tuple((sp, f"{show(b)} reads {show(a)}") for a, b, sp in reads if sp != span)
            self.reporter.error("E0309", message, span, f"{show(v)} reads {show(u)}", (),
                                "a statement can only read inputs and statements that do not depend on it",
                                related)
        return cyclic

    def _line(self, span: Span) -> int:
        return self.line_of(span.start) if self.line_of else 0

    def _reads(self, stmt: ir.Statement, previous: str | None) -> list[tuple[str, Span]]:
        """The tensors a statement reads: its source (explicit or the previous statement) and concat/add args."""
        reads = []
        first = stmt.elements[0]
        starts_from_name = not first.has_parens and first.op not in OPS
        if starts_from_name:
            reads.append((first.op, first.op_span))
        elif OPS.get(first.op) is None or OPS[first.op].inputs == "one":
            if previous is not None:
                reads.append((previous, stmt.span))
        for j, el in enumerate(stmt.elements):
            op = OPS.get(el.op)
            if op is not None and op.inputs == "many":
                if j > 0 or starts_from_name:
                    pass  # the chain's input comes first, already read
                for arg in el.args:
                    if isinstance(arg, ir.Name):
                        reads.append((arg.id, arg.span))
        return reads

    # -- one statement ---------------------------------------------------------------
    def _statement(self, i: int, key: str, stmt: ir.Statement, reads) -> None:
        """Infer a statement's shapes. After an error, later elements are still checked for unknown
        layers and bad arguments (errors of their own), but no shape is inferred (no cascades)."""
        self.types[key] = None
        elements = list(stmt.elements)
        first = elements[0]
        current: str | None
        broken = False
        if not first.has_parens and first.op not in OPS:
            current = self._lookup(first.op, first.op_span)
            elements = elements[1:]
            broken = current is None
        elif OPS.get(first.op) is not None and OPS[first.op].inputs == "many":
            current = None
        else:
            current = reads[0][0] if reads else None
            if current is None:
                self.reporter.error("E0312", f"`{first.op}` has no input", first.op_span, "nothing flows into this",
                                    (), "networks need at least one input: `network N(x: [..]) -> [..]`")
                broken = True
        if current is not None and self.types.get(current) is None:
            broken = True  # an error upstream was already reported
        t = self.types.get(current) if current is not None else None
        history = list(self.history.get(current, [])) if current is not None and not broken else []
        var_in = current
        layers = []
        for j, el in enumerate(elements):
            op = OPS.get(el.op)
            if op is None:
                self._unknown_op(el)
                broken = True
                continue
            try:
                args = self._bind(op, el)
                if op.inputs == "many":
                    for a in el.args:
                        if not isinstance(a, ir.Name):
                            raise error("E0217", f"`{el.op}` takes tensor names, found an expression", a.span,
                                        "not a tensor name", (), f"name the value first: `h = ...`, then `{el.op}(h)`")
                    # the chain's input (the value flowing in, of type `t`) comes first, then the named tensors
                    ins_vars = [var_in] if var_in is not None else []
                    in_types = [t] if var_in is not None else []
                    for a in el.args:
                        resolved = self._lookup(a.id, a.span)
                        if resolved is None or self.types.get(resolved) is None:
                            broken = True
                            continue
                        ins_vars.append(resolved)
                        in_types.append(self.types[resolved])
                    if broken:
                        continue
                    if len(in_types) < 2:
                        raise error("E0214", f"`{el.op}` needs at least two tensors", el.span, "one input only",
                                    (), f"name them: `{el.op}(a, b)`")
                else:
                    ins_vars = [var_in]
                    in_types = [t]
                if broken:
                    continue
                out = op.infer(in_types, args)
                params = op.params(in_types, args)
            except ShapeError as exc:
                self._shape_error(exc, el, history, t)
                broken = True
                continue
            except CompileError as exc:
                self.reporter.add(exc.diagnostic)
                broken = True
                continue
            layers.append(Layer(el.op, args, list(ins_vars), in_types, out, params, var=key,
                                statement=stmt.name, span=el.span))
            if out is not None and (not history or history[-1] != out):  # what shape_chain shows, bounded:
                history.append(out)  # copying an unbounded history per statement made checking O(n^2)
                del history[:-HISTORY]
            t = out
            var_in = key
        if broken:
            return
        self.layers[i] = layers
        if not layers:
            # `y = x`: an alias; keep it as an identity so the variable exists
            layers.append(Layer("identity", {}, [var_in], [t], t, 0, var=key, statement=stmt.name,
                                span=stmt.span))
        self.types[key] = t
        self.history[key] = history

    def _lookup(self, name: str, span: Span) -> str | None:
        if name in self.names:
            return name
        candidates = list(self.names) + list(OPS)
        self.reporter.error("E0201", f"unknown name `{name}` in network `{self.net.name}`", span,
                            "not a layer or a tensor of this network", (),
                            did_you_mean(name, candidates) or "name a statement with `name = ...` to use it here")
        return None

    def _unknown_op(self, el: ir.Element) -> None:
        if el.op in self.names:
            self.reporter.error("E0204", f"`{el.op}` is a tensor, not a layer", el.op_span,
                                "a tensor of this network", (),
                                f"a tensor can only start a chain: `{el.op} -> ...`; "
                                f"to combine it, use `concat({el.op})` "
                                f"or `add({el.op})`")
            return
        self.reporter.error("E0203", f"unknown layer `{el.op}`", el.op_span, "not a layer", (),
                            did_you_mean(el.op, OPS) or "see docs/language.md for the list of layers")

    def _bind(self, op: Op, el: ir.Element) -> dict:
        """The layer's arguments, evaluated and checked. Every bad argument is reported (they are
        independent); the last one is raised, so that the caller stops at this layer."""
        problems: list[CompileError] = []
        values: dict = {}
        params = [a for a in op.args if a.name != op.rest]
        positional = list(el.args) if op.inputs == "one" else []
        if op.rest is not None:
            dims = []
            for e in positional:
                try:
                    d = as_int(evaluate(e, self.env), e, "a dimension", dimension=True)
                    if d <= 0:
                        raise error("E0301", f"dimension {d} must be positive", e.span, "not positive")
                    dims.append(d)
                except CompileError as exc:
                    problems.append(exc)
            values[op.rest] = tuple(dims)
            positional = []
        if len(positional) > len(params):
            extra = positional[len(params)]
            problems.append(error("E0214", f"`{op.name}` takes {_at_most(len(params))}, but {len(positional)} were "
                                  "given", extra.span, "unexpected argument",
                                  (f"`{op.name}({', '.join(a.name for a in params)})`",)))
        for arg, expr in zip(params, positional):
            values[arg.name] = (expr, arg)
        by_name = {a.name: a for a in op.args}
        for a in op.args:
            for alias in a.aliases:
                by_name[alias] = a
        for kw in el.kwargs:
            arg = by_name.get(kw.name)
            if arg is None:
                problems.append(error("E0212", f"`{op.name}` has no argument `{kw.name}`", kw.name_span,
                                      "unknown argument",
                                      (f"`{op.name}` takes: {', '.join(a.name for a in op.args) or 'no arguments'}",),
                                      did_you_mean(kw.name, by_name)))
            elif arg.name in values:
                problems.append(error("E0215", f"argument `{arg.name}` of `{op.name}` is given twice", kw.span,
                                      "given again", (), f"remove one of the two values of `{arg.name}`"))
            else:
                values[arg.name] = (kw.value, arg)
        out = {}
        for arg in op.args:
            if arg.name == op.rest:
                out[arg.name] = values.get(arg.name, ())
                continue
            if arg.name not in values:
                if arg.default is REQUIRED:
                    problems.append(error(
                        "E0213", f"`{op.name}` needs its `{arg.name}` argument", el.span, f"`{arg.name}` missing",
                        (f"`{op.name}({', '.join(a.name for a in params)})`",),
                        "write e.g. `{}({})`".format(
                            op.name, ", ".join(a.name + "=..." for a in params if a.default is REQUIRED))))
                out[arg.name] = arg.default
                continue
            expr, _ = values[arg.name]
            try:
                value = evaluate_choice(expr, self.env, arg.choices) if arg.kind == "choice" else \
                    evaluate(expr, self.env)
                out[arg.name] = convert(value, arg, expr, op.name)
            except CompileError as exc:
                problems.append(exc)
        if problems:
            for exc in problems[:-1]:
                self.reporter.add(exc.diagnostic)
            raise problems[-1]
        return out

    def _shape_error(self, exc: ShapeError, el: ir.Element, history, t) -> None:
        op = OPS[el.op]
        span = el.span
        if exc.arg is not None and exc.arg == op.rest and el.args:
            span = el.args[0].span.join(el.args[-1].span)  # reshape(64, 7, 7): all the dimensions
        elif exc.arg is not None:
            arg = next((a for a in op.args if a.name == exc.arg), None)
            for kw in el.kwargs:
                if arg is not None and (kw.name == arg.name or kw.name in arg.aliases):
                    span = kw.value.span
            names = [a.name for a in op.args]
            if exc.arg in names and span == el.span:
                idx = names.index(exc.arg)
                if idx < len(el.args):
                    span = el.args[idx].span
        notes = []
        chain = shape_chain(history)
        if chain:
            notes.append(f"shapes: {chain}")
        label = exc.label or (f"input {t}" if t is not None and span == el.span else
                              f"the input is {t}" if t is not None else "")
        self.reporter.error(exc.code, exc.message, span, label, notes, exc.help)

    # -- outputs -----------------------------------------------------------------------
    def _outputs(self, keys) -> list | None:
        net = self.net
        outs = []
        for head in net.outputs:
            if head.name is None:
                key = keys[-1]
            else:
                if head.name not in self.names:
                    self.reporter.error("E0313", f"output `{head.name}` of `{net.name}` is never computed",
                                        head.span, "no statement has this name", (),
                                        f"name the statement that computes it: `{head.name} = ...`")
                    return None
                key = head.name
            outs.append((head.name, self.types.get(key), key))
            self.output_histories.append(self.history.get(key, []))
        return outs

    def _assign_variables(self, layers: list[Layer], outputs, inputs: list[str]) -> None:
        """Unnamed statements write to a running variable `h`; a value still needed later keeps its own."""
        taken = set(self.names)
        running = "h"
        while running in taken:
            running += "_"
        rename = {}
        for layer in layers:
            if layer.var.startswith("#"):
                rename[layer.var] = running
        # liveness: the running variable may only be read while it still holds that statement's value
        holder = None
        for layer in layers:
            for v in layer.inputs:
                if v is not None and v.startswith("#") and rename.get(v) == running and holder != v:
                    rename[v] = f"{running}{v[1:]}"
            if layer.var.startswith("#") and rename[layer.var] == running:
                holder = layer.var
        layers[:] = [replace(layer, inputs=[rename.get(v, v) for v in layer.inputs],
                             var=rename.get(layer.var, layer.var)) for layer in layers]
        for k, (name, t, key) in enumerate(outputs):
            outputs[k] = (name, t, rename.get(key, key))


def convert(value, arg, expr: ir.Expr, op: str):
    """Check one argument value against its declared kind and range."""
    kind = arg.kind
    if kind == "int":
        if value is None:
            return None
        v = as_int(value, expr, f"`{arg.name}` of `{op}`", dimension=True)
    elif kind == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise error("E0209", f"`{arg.name}` of `{op}` must be a number, found {describe(value)}", expr.span,
                        "not a number")
        v = float(value)
    elif kind == "bool":
        if not isinstance(value, bool):
            raise error("E0209", f"`{arg.name}` of `{op}` must be `true` or `false`, found {describe(value)}",
                        expr.span, "not a boolean")
        return value
    elif kind == "choice":
        name = value.name if isinstance(value, Symbol) else value
        if name not in arg.choices:
            raise error("E0221", f"`{arg.name}` of `{op}` must be {choices_text(arg.choices)}", expr.span,
                        f"found {describe(value)}", (), did_you_mean(str(name), arg.choices))
        return name
    else:
        raise TypeError(kind)
    if arg.low is not None and v < arg.low:
        raise error("E0220" if kind == "float" or arg.low == 0 else "E0301",
                    f"`{arg.name}` of `{op}` must be at least {arg.low:g}, found {v:g}", expr.span,
                    "out of range" if kind == "float" or arg.low == 0 else "not positive")
    if arg.high is not None and (v > arg.high or (arg.high_open and v >= arg.high)):
        bound = f"below {arg.high:g}" if arg.high_open else f"at most {arg.high:g}"
        raise error("E0220", f"`{arg.name}` of `{op}` must be {bound}, found {v:g}", expr.span, "out of range")
    if arg.low_open and v == arg.low:
        raise error("E0220", f"`{arg.name}` of `{op}` must be above {arg.low:g}", expr.span, "out of range")
    return v


def shape_chain(history, limit: int = 8) -> str:
    """`(3, 64, 64) -> (16, 32, 32) -> (32, 16, 16)`: the shapes a value went through, repeats merged."""
    chain = []
    for t in history:
        if t is not None and (not chain or chain[-1] != t):
            chain.append(t)
    shown = chain[-limit:]
    return (".. -> " if len(chain) > limit else "") + " -> ".join(str(t) for t in shown)


def _at_most(n: int) -> str:
    return "no positional arguments" if n == 0 else f"at most {n} positional argument" + ("s" if n > 1 else "")
