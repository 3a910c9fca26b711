"""One level of a variant: a file's own declarations applied over the merged declarations of its base.

The order is fixed: the base (itself merged over its own base, and so on), then this file's
declarations in source order. A name the base declares may only change through `override`; `remove`
deletes it; a network body changes only by named edits (`override net.stmt = ...`, `insert after
net.stmt { ... }`, `remove net.stmt`) or by overriding the whole network; `train` blocks merge key
by key. Nothing is evaluated here: values are bound when the merged model is checked.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from gendsl import ir
from gendsl.diagnostics import CompileError, Reporter, did_you_mean, error
from gendsl.source import Span

NAMED = (ir.Param, ir.Data, ir.Latent, ir.Network, ir.Schedule)
KIND = {ir.Param: "parameter", ir.Data: "data declaration", ir.Latent: "latent", ir.Network: "network",
        ir.Schedule: "schedule", ir.Forward: "`forward` block", ir.Loss: "loss"}
KEYWORD = {ir.Param: "param", ir.Data: "data", ir.Latent: "latent", ir.Schedule: "schedule"}


@dataclass
class Merged:
    """The declarations of a model after every level so far, and what happened to each name."""

    decls: list = field(default_factory=list)  # Param, Data, Latent, Network, Schedule, Forward, Loss, Train
    # key (`nz`, `netD.d3`, `loss`, `loss.kl`, `forward`, `train.epochs`) -> [(span, action)], oldest first
    history: dict[str, list[tuple[Span, str]]] = field(default_factory=dict)

    def copy(self) -> "Merged":
        return Merged(list(self.decls), {k: list(v) for k, v in self.history.items()})

    def find(self, key: str):
        for i, d in enumerate(self.decls):
            if key_of(d) == key:
                return i, d
        return None, None

    def keys(self, kind=None) -> list[str]:
        return [key_of(d) for d in self.decls if key_of(d) is not None and (kind is None or isinstance(d, kind))]

    def note(self, key: str, span: Span, action: str) -> None:
        entries = self.history.setdefault(key, [])
        if all(old != span for old, _ in entries):  # one entry per place, the first action said there
            entries.append((span, action))


def key_of(decl) -> str | None:
    if isinstance(decl, NAMED):
        return decl.name
    if isinstance(decl, ir.Forward):
        return "forward"
    if isinstance(decl, ir.Loss):
        return "loss" if decl.name is None else f"loss.{decl.name}"
    return None


def setting_key(s) -> str:
    return f"train.{s.key}" + (f".{s.target}" if s.target else "")


def name_span(decl) -> Span:
    if isinstance(decl, NAMED):
        return decl.name_span
    return Span(decl.span.start, decl.span.start + (7 if isinstance(decl, ir.Forward) else 4))


class Level:
    """Applies one file's declarations over `base` (None: the file extends nothing)."""

    def __init__(self, base: Merged | None, reporter: Reporter, base_name: str | None, base_span: Span | None):
        self.merged = base.copy() if base is not None else Merged()
        self.base_keys = set(base.keys()) if base is not None else set()
        self.base_settings = {setting_key(s) for t in self.merged.decls if isinstance(t, ir.Train)
                              for s in t.settings} if base is not None else set()
        self.has_base = base is not None
        self.reporter = reporter
        self.base_name = base_name  # how the base is shown in messages: `specs/dcgan.gen`
        self.base_span = base_span

    def _guard(self, fn, *args) -> None:
        try:
            fn(*args)
        except CompileError as exc:
            self.reporter.add(exc.diagnostic)

    # -- plain declarations --------------------------------------------------------
    def declare(self, decl) -> None:
        key = key_of(decl)
        if isinstance(decl, ir.Train):
            self._guard(self._train, decl)
            return
        if key is not None and key in self.base_keys:
            _, old = self.merged.find(key)
            if old is not None:
                what = KIND.get(type(old), "declaration")
                self.reporter.error(
                    "E0605", f"`{_shown_key(key)}` is already declared by the base `{self.base_name}`",
                    name_span(decl), "declared again", (),
                    f"write `override {_head(decl)}` to change it, or choose another name",
                    self._chain(key, name_span(old), f"the base's {what}"))
                return
        # after the last declaration of its kind, so that a resolved variant reads like a spec written whole
        # (the checker takes each kind in order, so the place changes nothing else)
        # (a file without a base keeps its own order: the checker reports duplicates in source order)
        same = [i for i, d in enumerate(self.merged.decls) if type(d) is type(decl)] if self.has_base else []
        self.merged.decls.insert(same[-1] + 1 if same else len(self.merged.decls), decl)
        if key is not None:
            self.merged.note(key, name_span(decl), "declared")
        if isinstance(decl, ir.Network):
            for s in decl.body:
                if s.name is not None:
                    self.merged.note(f"{decl.name}.{s.name}", s.name_span, "declared")

    # -- override ------------------------------------------------------------------
    def override(self, o: ir.Override) -> None:
        decl = o.decl
        if isinstance(decl, ir.StatementEdit):
            self._guard(self._edit, decl.network, decl.network_span, decl.statement, decl.statement_span,
                        "override", decl)
            return
        key = key_of(decl)
        if not self._needs_base(o.span):
            return
        index, old = self.merged.find(key)
        if isinstance(decl, ir.Loss) and decl.name is None:  # the whole objective: every term goes
            losses = [i for i, d in enumerate(self.merged.decls) if isinstance(d, ir.Loss)]
            if not losses:
                self._unknown(key, name_span(decl), ir.Loss)
                return
            first = losses[0]
            for k in [key_of(self.merged.decls[i]) for i in losses]:
                self.merged.note(k, name_span(decl), "overridden by the whole loss")
            self.merged.decls = [d for i, d in enumerate(self.merged.decls) if i not in losses[1:]]
            self.merged.decls[first] = decl
            self.merged.note("loss", name_span(decl), "overridden")
            return
        if old is None:
            self._unknown(key, name_span(decl), type(decl))
            return
        if type(old) is not type(decl):
            self.reporter.error("E0606", f"`{key}` is a {KIND[type(old)]} in the base, not a {KIND[type(decl)]}",
                                name_span(decl), "a different kind", (),
                                f"write `override {_head(old)} ...`, or choose another name",
                                ((name_span(old), f"the base's {KIND[type(old)]}"),))
            return
        self.merged.decls[index] = decl
        self.merged.note(key, name_span(decl), "overridden")
        if isinstance(decl, ir.Network):
            for s in decl.body:
                if s.name is not None:
                    self.merged.note(f"{decl.name}.{s.name}", s.name_span, "declared by the overriding network")

    # -- remove --------------------------------------------------------------------
    def remove(self, r: ir.Remove) -> None:
        if r.kind == "statement":
            self._guard(self._edit, r.name, r.name_span, r.member, r.member_span, "remove", r)
            return
        if not self._needs_base(r.span, "remove"):
            return
        key = r.name if r.kind == "name" else f"loss.{r.name}"
        index, old = self.merged.find(key)
        if old is None:
            self._unknown(key, r.name_span, ir.Loss if r.kind == "loss" else None)
            return
        del self.merged.decls[index]
        self.merged.note(key, r.span, "removed")

    # -- network edits -------------------------------------------------------------
    def insert(self, i: ir.Insert) -> None:
        self._guard(self._edit, i.network, i.network_span, i.statement, i.statement_span, i.place, i)

    def _edit(self, net_name: str, net_span: Span, stmt: str, stmt_span: Span, action: str, node) -> None:
        index, net = self.merged.find(net_name)
        if not isinstance(net, ir.Network):
            networks = self.merged.keys(ir.Network)
            raise error("E0606", f"there is no network `{net_name}` to edit", net_span, "not a network",
                        (f"networks: {', '.join(networks)}",) if networks else (),
                        did_you_mean(net_name, networks), self._base_related())
        names = [s.name for s in net.body if s.name is not None]
        if stmt not in names:
            notes = (f"named statements of `{net_name}`: {', '.join(names)}",) if names else \
                (f"`{net_name}` has no named statements; name one in its declaration (`h = ...`) to edit it",)
            raise error("E0606", f"network `{net_name}` has no statement named `{stmt}`", stmt_span,
                        "no such statement", notes, did_you_mean(stmt, names),
                        self._chain(net_name, net.name_span, f"`{net_name}` declared here"))
        at = names.index(stmt)
        position = [k for k, s in enumerate(net.body) if s.name is not None][at]
        body = list(net.body)
        key = f"{net_name}.{stmt}"
        if action == "override":
            body[position] = ir.Statement(stmt, node.elements, Span(node.statement_span.start, node.span.end),
                                          node.statement_span)
            self.merged.note(key, node.statement_span, "replaced")
        elif action == "remove":
            del body[position]
            self.merged.note(key, node.span, "removed")
        else:
            where = position + 1 if action == "after" else position
            body[where:where] = list(node.body)
            self.merged.note(key, node.span, f"statements inserted {action} it")
            for s in node.body:
                if s.name is not None:
                    self.merged.note(f"{net_name}.{s.name}", s.name_span, "inserted")
        self.merged.decls[index] = replace(net, body=tuple(body))
        self.merged.note(net_name, node.span, "edited")

    # -- train blocks, key by key --------------------------------------------------
    def _train(self, t: ir.Train) -> None:
        trains = [i for i, d in enumerate(self.merged.decls) if isinstance(d, ir.Train)]
        if not self.has_base or not trains:
            for s in t.settings:
                if isinstance(s, ir.RemoveSetting) or s.override:
                    if not self._needs_base(s.span, "remove" if isinstance(s, ir.RemoveSetting) else "override"):
                        continue
                    self.reporter.error("E0606", f"the base sets no training setting `{setting_key(s)[6:]}`",
                                        s.span, "nothing to change", (), "the base has no `train` block")
            kept = tuple(s for s in t.settings if isinstance(s, ir.Setting) and not s.override)
            self.merged.decls.append(replace(t, settings=kept))
            for s in kept:
                self.merged.note(setting_key(s), s.key_span, "set")
            return
        for s in t.settings:
            self._setting(s, trains)

    def _setting(self, s, trains: list[int]) -> None:
        key = setting_key(s)
        found = [(i, k) for i in trains for k, old in enumerate(self.merged.decls[i].settings)
                 if setting_key(old) == key]
        known = [setting_key(old)[6:] for i in trains for old in self.merged.decls[i].settings]
        if isinstance(s, ir.RemoveSetting) or s.override:
            if not found:
                verb = "remove" if isinstance(s, ir.RemoveSetting) else "override"
                self.reporter.error("E0606", f"cannot {verb} `{key[6:]}`: the base does not set it",
                                    s.key_span if isinstance(s, ir.Setting) else s.span, "not set by the base",
                                    (f"the base sets: {', '.join(known)}",) if known else (),
                                    did_you_mean(key[6:], known) or (None if isinstance(s, ir.RemoveSetting) else
                                                                     "write it without `override` to add it"),
                                    self._base_related())
                return
            i, k = found[-1]
            settings = list(self.merged.decls[i].settings)
            if isinstance(s, ir.RemoveSetting):
                del settings[k]
                self.merged.note(key, s.span, "removed")
            else:
                settings[k] = replace(s, override=False)
                self.merged.note(key, s.key_span, "overridden")
            self.merged.decls[i] = replace(self.merged.decls[i], settings=tuple(settings))
            return
        if found and key in self.base_settings:
            i, k = found[-1]
            old = self.merged.decls[i].settings[k]
            self.reporter.error("E0605", f"`{key[6:]}` is already set by the base `{self.base_name}`", s.key_span,
                                "set again", (), f"write `override {s.key}{' ' + s.target if s.target else ''} = "
                                "...` to change it", ((old.key_span, "the base's setting"),))
            return
        last = trains[-1]
        self.merged.decls[last] = replace(self.merged.decls[last],
                                          settings=self.merged.decls[last].settings + (s,))
        self.merged.note(key, s.key_span, "set")

    # -- helpers -------------------------------------------------------------------
    def _chain(self, key: str, span: Span, label: str) -> tuple:
        """Marks at every level of the chain that declared or changed `key`, oldest first; the
        declaration in force gets `label`."""
        out = [(s, label if s == span else f"{action} here") for s, action in self.merged.history.get(key, [])]
        return tuple(out) if any(s == span for s, _ in out) else tuple(out) + ((span, label),)

    def _needs_base(self, span: Span, word: str = "override") -> bool:
        if self.has_base:
            return True
        self.reporter.error("E0606", "nothing to override or remove: this model extends no base",
                            Span(span.start, span.start + len(word)), "no base", (),
                            "remove it, or make the model a variant: `model NAME extends \"base.gen\"`")
        return False

    def _base_related(self):
        return ((self.base_span, "the base is named here"),) if self.base_span is not None else ()

    def _unknown(self, key: str, span: Span, kind) -> None:
        candidates = self.merged.keys(kind) if kind is not None else self.merged.keys()
        if kind in (ir.Loss,):
            shown = [c for c in candidates if c.startswith("loss")]
            note = "the base's loss has no named terms" if shown == ["loss"] else None
        else:
            shown, note = candidates, None
        what = KIND.get(kind, "declaration")
        self.reporter.error("E0606", f"the base declares no {what} `{_shown_key(key)}`", span,
                            "not in the base", (note,) if note else (), did_you_mean(key, shown),
                            self._base_related())


def _shown_key(key: str) -> str:
    return key[5:] if key.startswith("loss.") else key


def _head(decl) -> str:
    """How a declaration starts, for `write `override ...``."""
    if isinstance(decl, ir.Network):
        return f"{decl.role} {decl.name} ..."
    if isinstance(decl, ir.Loss):
        return "loss" + (f" {decl.name}" if decl.name else "") + " = ..."
    if isinstance(decl, ir.Forward):
        return "forward { ... }"
    return f"{KEYWORD[type(decl)]} {decl.name} " + ("= ..." if isinstance(decl, (ir.Param, ir.Schedule)) else "...")

