"""Compose: the files of one compile (a spec, the bases it extends, the files it imports, the
command line's `--set` values) merged into one `ir.Spec` that the checker sees as if written in one
file.

Each file is read and parsed once per compile, and loading one has no effect other than giving
names to its declarations. Imports are resolved relative to the importing file. A cycle of imports or
`extends` is an error that prints the whole chain. The order of a variant is fixed: the base first,
then each `extends` level, then the variant, then the command line (see merge.py and cmdline.py).
"""

from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass, field, replace

from gendsl import ir
from gendsl.compose.instances import instantiate, losses_in
from gendsl.compose.merge import Level, Merged, key_of
from gendsl.diagnostics import CompileError, Reporter, did_you_mean
from gendsl.source import SourceFile, SourceMap, Span


@dataclass
class Module:
    """One file, loaded: its declarations after its own `extends`, and the names it offers to importers."""

    file: SourceFile
    spec: ir.Spec
    model: ir.Model | None = None
    merged: Merged = field(default_factory=Merged)
    templates: dict[str, ir.Network] = field(default_factory=dict)  # parameterised networks
    trains: dict[str, ir.Train] = field(default_factory=dict)  # named train blocks
    aliases: dict[str, "Module | None"] = field(default_factory=dict)  # `import "x.gen" as alias`
    names: dict[str, tuple["Module | None", Span]] = field(default_factory=dict)  # `from "x.gen" import name`

    def export(self, name: str):
        """What `name` means to a file that imports this one, or None."""
        if name in self.templates:
            return self.templates[name]
        if name in self.trains:
            return self.trains[name]
        for d in self.merged.decls:
            if isinstance(d, ir.Network) and d.name == name:
                return d
            if isinstance(d, ir.Loss) and d.name == name:
                return d
        if self.model is not None and self.model.name == name:
            return self
        return None

    def exported_names(self) -> list[str]:
        return sorted(set(self.templates) | set(self.trains) |
                      {d.name for d in self.merged.decls if isinstance(d, (ir.Network, ir.Loss)) and d.name} |
                      ({self.model.name} if self.model else set()))


@dataclass
class Composition:
    spec: ir.Spec | None  # the merged model; None when nothing could be parsed, or a file could not be loaded
    sources: SourceMap  # every file read, the main one first; `--set` values last
    history: dict[str, list[tuple[Span, str]]]
    sets: tuple[str, ...] = ()

    @property
    def files(self) -> list[SourceFile]:
        """The spec files read (not the command line), in the order they were read."""
        return [f for f in self.sources.files if f.path != SET_PATH]


from gendsl.compose.cmdline import SET_PATH  # noqa: E402


def compose(main: SourceFile, reporter: Reporter, reader, sets=()) -> Composition:
    """Merge `main` with everything it extends and imports, then apply the `--set` values.
    `reader(path) -> (SourceFile, Diagnostic | None)` reads a file (gendsl.driver.read_source)."""
    from gendsl.compose.cmdline import apply_sets

    sources = SourceMap(main)
    loader = _Loader(sources, reporter, reader)
    module = loader.load(main, os.path.abspath(main.origin or main.path), None)
    if module is None or loader.broken:  # checking a model with a missing piece would only cascade
        return Composition(None, sources, {}, tuple(sets))
    merged = module.merged
    if sets:
        merged = merged.copy()
        apply_sets(merged, sets, sources, reporter)
    return Composition(_finish(module, merged), sources, merged.history, tuple(sets))


def _finish(module: Module, merged: Merged) -> ir.Spec:
    """The Spec the checker sees: the model line, then the merged declarations; the named terms of the
    loss summed in order (one unnamed `loss` counts as a term too)."""
    decls = list(merged.decls)
    losses = [d for d in decls if isinstance(d, ir.Loss)]
    unnamed = [d for d in losses if d.name is None]
    if len(unnamed) > 1:  # two objectives: the checker reports it; named terms add nothing to that
        decls = [d for d in decls if not (isinstance(d, ir.Loss) and d.name is not None)]
    elif losses and (len(losses) > 1 or losses[0].name is not None):
        total = losses[0].value
        for term in losses[1:]:
            total = ir.BinOp("+", total, term.value, losses[0].value.span)
        first = decls.index(losses[0])
        decls = [d for d in decls if not isinstance(d, ir.Loss)]
        decls.insert(first, ir.Loss(None, total, losses[0].span))
    head = []
    if module.model is not None:
        head = [replace(module.model, extends=None, extends_file=False, extends_span=None)]
    return ir.Spec(head + decls)


def _shown(path: str, fallback: str) -> str:
    """A path as headers and diagnostics show it: relative to the working directory, with `/`."""
    try:
        rel = os.path.relpath(path)
    except ValueError:  # another drive
        return fallback
    return fallback if rel.startswith("..") else rel.replace(os.sep, "/")


class _Loader:
    def __init__(self, sources: SourceMap, reporter: Reporter, reader):
        self.sources = sources
        self.reporter = reporter
        self.reader = reader
        self.modules: dict[str, Module | None] = {}
        self.stack: list[tuple[str, str, Span | None]] = []  # (key, path shown, where it was imported)
        self.broken = False  # a file could not be loaded: the merged model is incomplete

    # -- files ---------------------------------------------------------------------
    def load(self, file: SourceFile, key: str, site: Span | None) -> Module | None:
        from gendsl.syntax import parse

        self.stack.append((key, file.path, site))
        try:
            spec = parse(file, self.reporter)
            module = None if spec is None else _Builder(self, file, spec).run()
        finally:
            self.stack.pop()
        self.modules[key] = module
        return module

    def load_path(self, path: str, importer: SourceFile, site: Span) -> Module | None:
        target = os.path.join(os.path.dirname(importer.origin or importer.path), path)
        key = os.path.abspath(target)
        shown = _shown(key, posixpath.normpath(posixpath.join(posixpath.dirname(importer.path), path)))
        keys = [k for k, _, _ in self.stack]
        if key in keys:
            self._cycle(keys.index(key), shown, site)
            return None
        if key in self.modules:
            return self.modules[key]
        file, problem = self.reader(target)
        if problem is not None and problem.span is None:
            reason = problem.message.split(": ", 1)[-1]
            self.reporter.error("E0602", f"cannot import `{path}`: {reason}", site, "imported here",
                                (f"looked for `{shown}` (paths are relative to the importing file)",),
                                "check the path" if problem.code == "E0105" else problem.help)
            self.modules[key] = None
            self.broken = True
            return None
        file = self.sources.add_text(shown, file.text, target)
        if problem is not None:
            self.reporter.add(replace(problem, span=Span(problem.span.start + file.base,
                                                         problem.span.end + file.base)))
            self.modules[key] = None
            return None
        return self.load(file, key, site)

    def _cycle(self, at: int, shown: str, site: Span) -> None:
        """Reported at the first import of the chain (in the file compiled, when it is part of the cycle),
        with a mark at every other import of the chain."""
        chain = [p for _, p, _ in self.stack[at:]] + [shown]
        sites = [s for _, _, s in self.stack[at + 1:]] + [site]
        labels = [f"`{a}` imports `{b}` here" for a, b in zip(chain, chain[1:])]
        labels[-1] += ", which closes the cycle"
        self.broken = True
        self.reporter.error("E0601", "import cycle: " + " -> ".join(f"`{p}`" for p in chain), sites[0],
                            labels[0], ("a file cannot import or extend itself, directly or through others",),
                            "move what both files need into a third file that imports neither",
                            tuple(zip(sites[1:], labels[1:])))


class _Builder:
    """Loads one file: its imports, its base, then its own declarations over the base."""

    def __init__(self, loader: _Loader, file: SourceFile, spec: ir.Spec):
        self.loader, self.file, self.spec = loader, file, spec
        self.reporter = loader.reporter
        self.module = Module(file, spec)
        self.bound: dict[str, Span] = {}  # every name an import brings in -> where

    def run(self) -> Module:
        m = self.module
        for imp in self.spec.of(ir.Import):
            self._import(imp)
        models = self.spec.of(ir.Model)
        m.model = models[0] if models else None
        base, base_name, base_span = None, None, None
        if m.model is not None and m.model.extends is not None:
            base_span = m.model.extends_span
            if m.model.extends_file:
                found = self.loader.load_path(m.model.extends, self.file, base_span)
            else:
                found = self._alias(m.model.extends, base_span)
            if found is not None:
                if found.model is None:
                    self.reporter.error("E0603", f"`{found.file.path}` declares no model to extend", base_span,
                                        "not a model", (), "a base is a file with a `model` line",)
                else:
                    base, base_name = found.merged, found.file.path
            if base is None:  # reported; the model would lack all its base declares: check nothing more
                base = Merged()
                self.loader.broken = True
                base_name = m.model.extends
        level = Level(base, self.reporter, base_name, base_span)
        self.level = level
        for d in self.spec.decls:
            try:
                self._decl(d, level)
            except CompileError as exc:
                self.reporter.add(exc.diagnostic)
        m.merged = level.merged
        return m

    # -- imports -------------------------------------------------------------------
    def _import(self, imp: ir.Import) -> None:
        target = self.loader.load_path(imp.path, self.file, imp.path_span)
        if imp.names:
            for n in imp.names:
                if not self._bind(n.id, n.span):
                    continue
                if target is not None and target.export(n.id) is None:
                    names = target.exported_names()
                    self.reporter.error("E0603", f"`{imp.path}` declares no `{n.id}`", n.span, "not found there",
                                        (f"it offers: {', '.join(names)}",) if names else
                                        ("it declares no networks, losses, train blocks or model",),
                                        did_you_mean(n.id, names))
                    target = target if len(imp.names) > 1 else None
                    self.module.names[n.id] = (None, n.span)
                    continue
                self.module.names[n.id] = (target, n.span)
            return
        alias = imp.alias or posixpath.splitext(posixpath.basename(imp.path))[0]
        span = imp.alias_span or imp.path_span
        if not alias.isidentifier():
            self.reporter.error("E0206", f"`{alias}` cannot name an import", span, "not a name", (),
                                f"write `import \"{imp.path}\" as NAME`")
            return
        if self._bind(alias, span):
            self.module.aliases[alias] = target

    def _bind(self, name: str, span: Span) -> bool:
        if name in self.bound:
            self.reporter.error("E0604", f"`{name}` is imported twice", span, "imported again", (),
                                f"import one of them under another name: `import \"...\" as other`",
                                ((self.bound[name], "first imported here"),))
            return False
        self.bound[name] = span
        return True

    def _alias(self, name: str, span: Span) -> Module | None:
        if name in self.module.aliases:
            return self.module.aliases[name]
        if name in self.module.names:
            target, _ = self.module.names[name]
            found = target.export(name) if target is not None else None
            return found if isinstance(found, Module) else None
        self.reporter.error("E0201", f"unknown import `{name}`", span, "not imported", (),
                            did_you_mean(name, list(self.module.aliases)) or
                            f"write `extends \"{name}.gen\"`, or import it first: `import \"{name}.gen\"`")
        return None

    def _lookup(self, ref: ir.Ref, what: str):
        """The declaration `ref` names, or None (reported, or quiet when its file is broken)."""
        from gendsl.diagnostics import error

        if ref.module is not None:
            if ref.module not in self.module.aliases:
                raise error("E0201", f"unknown import `{ref.module}`", Span(ref.span.start, ref.span.start +
                            len(ref.module)), "not imported", (), did_you_mean(ref.module, list(self.module.aliases))
                            or f"import it first: `import \"{ref.module}.gen\"`")
            target = self.module.aliases[ref.module]
            if target is None:
                return None
            found = target.export(ref.name)
            if found is None:
                names = target.exported_names()
                raise error("E0603", f"`{target.file.path}` declares no {what} `{ref.name}`", ref.span,
                            "not found there", (f"it offers: {', '.join(names)}",) if names else (),
                            did_you_mean(ref.name, names))
            return found
        own = self.module.templates.get(ref.name) or self.module.trains.get(ref.name)
        if own is None:
            _, own = self.level.merged.find(ref.name)
        if own is not None:
            return own
        if ref.name in self.module.names:
            target, _ = self.module.names[ref.name]
            return target.export(ref.name) if target is not None else None
        known = list(self.module.templates) + list(self.module.trains) + list(self.module.names) + \
            self.level.merged.keys(ir.Network)
        raise error("E0201", f"unknown {what} `{ref.name}`", ref.span, f"not a {what}", (),
                    did_you_mean(ref.name, known) or "declare it above, or import it")

    # -- declarations ----------------------------------------------------------------
    def _decl(self, d, level: Level) -> None:
        if isinstance(d, (ir.Model, ir.Import)):
            return
        if isinstance(d, ir.Network) and d.tparams:
            self.module.templates[d.name] = d
            return
        if isinstance(d, ir.Train) and d.name is not None:
            self.module.trains[d.name] = self._train(d)
            return
        if isinstance(d, ir.Override):
            inner = self._own(d.decl)
            if inner is not None:
                level.override(replace(d, decl=inner))
            return
        if isinstance(d, ir.Remove):
            level.remove(d)
            return
        if isinstance(d, ir.Insert):
            level.insert(d)
            return
        d = self._own(d)
        if d is not None:
            level.declare(d)

    def _own(self, d):
        self._was_broken = self.loader.broken
        return self._own_decl(d)

    def _own_decl(self, d):
        """A declaration as the merge sees it: instances expanded, imported losses substituted, a train
        block's `extends` applied."""
        if isinstance(d, ir.Instance):
            self.loader.broken = True  # until the instance is built: a missing network would only cascade
            template = self._lookup(d.ref, "network")
            if template is None:
                return None
            if not isinstance(template, ir.Network):
                from gendsl.diagnostics import error
                raise error("E0603", f"`{d.ref.name}` is not a network", d.ref.span, "not a network", (),
                            "instantiate a network: `generator G = lib.Generator(...)`")
            network = instantiate(d, template, self.file.path)
            self.loader.broken = self._was_broken
            self.level.merged.note(d.name, template.name_span, f"body of `{template.name}`")
            return network
        if isinstance(d, ir.Loss):
            return replace(d, value=losses_in(d.value, self._loss_ref))
        if isinstance(d, ir.Train) and d.extends is not None:
            return self._train(d)
        return d

    def _loss_ref(self, node):
        if isinstance(node, ir.Attribute) and node.obj in self.module.aliases:
            target = self.module.aliases[node.obj]
            found = target.export(node.attr) if target is not None else None
            if isinstance(found, ir.Loss):
                return found.value
            if target is not None:
                from gendsl.diagnostics import error
                names = [n for n in target.exported_names() if isinstance(target.export(n), ir.Loss)]
                raise error("E0603", f"`{target.file.path}` declares no loss `{node.attr}`", node.attr_span,
                            "not a loss there", (), did_you_mean(node.attr, names))
        if isinstance(node, ir.Name) and node.id in self.module.names:
            target, _ = self.module.names[node.id]
            found = target.export(node.id) if target is not None else None
            if isinstance(found, ir.Loss):
                return found.value
        return None

    def _train(self, t: ir.Train) -> ir.Train:
        """A train block with the settings of the block it extends under its own, merged key by key."""
        if t.extends is None:
            return t
        base = self._lookup(t.extends, "train block")
        if base is None:
            return replace(t, extends=None, settings=tuple(s for s in t.settings if isinstance(s, ir.Setting)))
        if not isinstance(base, ir.Train):
            from gendsl.diagnostics import error
            raise error("E0603", f"`{t.extends.name}` is not a train block", t.extends.span, "not a train block")
        from gendsl.compose.merge import setting_key
        merged = Merged([replace(base, name=None, extends=None)],
                        {setting_key(s): [(s.key_span, "set")] for s in base.settings if isinstance(s, ir.Setting)})
        level = Level(merged, self.reporter, t.extends.name, t.extends.span)
        level.declare(replace(t, name=None, extends=None))
        out = level.merged.decls[0]
        if hasattr(self, "level"):
            for key, entries in level.merged.history.items():
                self.level.merged.history.setdefault(key, []).extend(entries)
        return replace(out, span=t.span, name=t.name, name_span=t.name_span)


__all__ = ["Composition", "Module", "SET_PATH", "compose", "key_of"]
