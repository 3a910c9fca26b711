"""Notes that explain an error by a parameter's value: where a parameter used at the error gets its
value (and its other uses with the same error), and, in a variant, the value set in another file that
broke a base's network. A mixin of the model checker (check/model.py), run once every phase is done."""

from __future__ import annotations

from dataclasses import replace

from gendsl import ir
from gendsl.source import Span


class ParameterNotes:
    def _explain_parameters(self) -> None:
        """An error at a use of a parameter (`linear(dim)` with `dim = 0`) marks where the parameter gets
        its value, and the same error at further uses of it is reported once, with their lines."""
        params = {p.name: p for p in self.spec.of(ir.Param) if self.declared.get(p.name) is p}
        out, first = [], {}
        for d in self.reporter.diagnostics:
            name = self.source.text[d.span.start:d.span.end] if d.span is not None else ""
            if name not in params or name not in self.env.params or d.related or d.span == params[name].name_span \
                    or d.code.startswith("E06"):
                out.append(d)
                continue
            key = (d.code, d.message, d.label, name)
            if key in first:
                first[key][1].append(self._line(d.span.start))
                continue
            value = self.env.params[name]
            shown = str(value).lower() if isinstance(value, bool) else f"{value:g}" if isinstance(value, float) \
                else str(value)
            d = replace(d, related=((params[name].value.span, f"`{name}` is {shown} here"),))
            first[key] = (len(out), [])
            out.append(d)
        for index, lines in first.values():
            if lines:
                d = out[index]
                where = ", ".join(map(str, lines[:-1])) + (" and " if len(lines) > 1 else "") + str(lines[-1])
                name = self.source.text[d.span.start:d.span.end]
                out[index] = replace(d, notes=d.notes + (f"`{name}` gives the same error on "
                                                         f"line{'s' if len(lines) > 1 else ''} {where}",))
        self.reporter.diagnostics[:] = out

    def _explain_variant_parameters(self) -> None:
        """An error inside a network declared in another file (a variant's base, a library) that uses a
        parameter whose value is set in a different file (the variant, the command line) gets a mark
        at that value: the change that broke the base's network is the place to look."""
        if len(getattr(self.source, "files", ())) < 2:
            return
        params = {p.name: p for p in self.spec.of(ir.Param) if self.declared.get(p.name) is p}
        networks = [n for n in self.spec.of(ir.Network)]
        out = []
        for d in self.reporter.diagnostics:
            net = next((n for n in networks if d.span is not None and
                        any(s.span.start <= d.span.start < s.span.end for s in n.body)), None)
            if net is None:
                out.append(d)
                continue
            home = self.source.file_of(d.span)
            marked = {span for span, _ in d.related}
            typed = {d.name: d for d in self.spec.of(ir.Data) + self.spec.of(ir.Latent)}
            names = {n.id for n in _name_nodes_deep(net)} | {n.id for i in net.inputs if i.type is None and
                                                             i.name in typed for n in _name_nodes_deep(typed[i.name].type)}
            used = _closure(names, params)
            extra = []
            for name in sorted(used, key=lambda n: params[n].span.start):
                p = params[name]
                if self.source.file_of(p.value.span) is home or p.value.span in marked \
                        or name not in self.env.params:
                    continue
                value = self.env.params[name]
                shown = str(value).lower() if isinstance(value, bool) else f"{value:g}" \
                    if isinstance(value, float) else str(value)
                extra.append((p.value.span, f"`{name}` is {shown} here, used by `{net.name}`"))
            out.append(replace(d, related=d.related + tuple(extra)) if extra else d)
        self.reporter.diagnostics[:] = out

    # -- declarations ---------------------------------------------------------------


def _name_nodes_deep(node) -> list[ir.Name]:
    """Every ir.Name anywhere inside a declaration."""
    from dataclasses import fields, is_dataclass
    if isinstance(node, ir.Name):
        return [node]
    if isinstance(node, (list, tuple)):
        return [n for item in node for n in _name_nodes_deep(item)]
    if not is_dataclass(node) or isinstance(node, Span):
        return []
    return [n for f in fields(node) for n in _name_nodes_deep(getattr(node, f.name))]


def _closure(names: set[str], params: dict) -> set[str]:
    """The parameters among `names` and every parameter their values use."""
    out, todo = set(), [n for n in names if n in params]
    while todo:
        name = todo.pop()
        if name in out:
            continue
        out.add(name)
        todo += [n.id for n in _name_nodes_deep(params[name].value) if n.id in params]
    return out
