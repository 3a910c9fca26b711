"""`--set NAME=VALUE`: the last level of a variant, above every file.

Each value is parsed as a spec expression and put where the spec's own value was, so it is
checked exactly like the spec (a `--set latent=0` gives the same error as `param latent = 0`, pointing
at the command line). NAME is a parameter (`latent`), a training setting (`train.batch_size`,
`train.optimizer.netG`), or one option of a setting's call (`train.optimizer.lr`: every optimizer;
`train.optimizer.netD.lr`: one).
"""

from __future__ import annotations

from dataclasses import replace

from gendsl import ir
from gendsl.compose.merge import Merged, setting_key
from gendsl.diagnostics import Reporter, did_you_mean
from gendsl.source import SourceFile, SourceMap, Span

SET_PATH = "--set"


def apply_sets(merged: Merged, sets, sources: SourceMap, reporter: Reporter) -> None:
    from gendsl.syntax import parse

    text = "\n".join(sets)
    file = sources.add_text(SET_PATH, text)
    offset = file.base
    for item in sets:
        name, eq, value = item.partition("=")
        name_span = Span(offset, offset + len(name))
        if not eq or not name.strip() or not value.strip():
            reporter.error("E0611", f"`--set {item}` is not NAME=VALUE", Span(offset, offset + max(1, len(item))),
                           "expected NAME=VALUE", (), "e.g. `--set latent=32` or `--set train.optimizer.lr=5e-4`")
        else:
            expr = parse(SourceFile(SET_PATH, value, offset + len(name) + 1), reporter, start="expr")
            if expr is not None:
                _apply(merged, name.strip(), name_span, expr, reporter)
        offset += len(item) + 1


def _known(merged: Merged) -> list[str]:
    params = [d.name for d in merged.decls if isinstance(d, ir.Param)]
    settings = [setting_key(s) for t in merged.decls if isinstance(t, ir.Train) for s in t.settings]
    return params + settings


def _apply(merged: Merged, name: str, span: Span, expr, reporter: Reporter) -> None:
    parts = name.split(".")
    if parts[0] != "train":
        index, decl = merged.find(name)
        if isinstance(decl, ir.Param):
            merged.decls[index] = replace(decl, value=expr)
            merged.note(name, expr.span, "set on the command line")
            return
        what = "" if decl is None else f" (`{name}` is not a parameter)"
        reporter.error("E0610", f"`--set` names no parameter or training setting `{name}`{what}", span,
                       "unknown name", (f"parameters: {', '.join(d.name for d in merged.decls if isinstance(d, ir.Param))}",),
                       did_you_mean(name, _known(merged)) or "write `--set NAME=VALUE` for a `param`, or "
                       "`--set train.KEY=VALUE` for a training setting")
        return
    if len(parts) < 2 or not all(p.isidentifier() for p in parts[1:]) or len(parts) > 4:
        reporter.error("E0611", f"`{name}` is not a training setting", span, "expected train.KEY",
                       (), "e.g. `train.epochs`, `train.optimizer.lr` or `train.optimizer.netG.lr`")
        return
    trains = [i for i, d in enumerate(merged.decls) if isinstance(d, ir.Train)]
    if not trains:
        merged.decls.append(ir.Train((), span))
        trains = [len(merged.decls) - 1]
    key, rest = parts[1], parts[2:]
    settings = [(i, k, s) for i in trains for k, s in enumerate(merged.decls[i].settings) if s.key == key]
    target = rest[0] if rest and any(s.target == rest[0] for _, _, s in settings) else None
    option = rest[1] if target and len(rest) > 1 else (rest[0] if rest and target is None else None)
    if target and len(rest) > 2 or (target is None and len(rest) > 1):
        reporter.error("E0611", f"`{name}` is not a training setting", span, "too many parts", (),
                       "e.g. `train.optimizer.lr` or `train.optimizer.netG.lr`")
        return
    chosen = [(i, k, s) for i, k, s in settings if target is None or s.target == target]
    if option is None:
        if chosen and target is None and any(s.target for _, _, s in chosen):
            targets = ", ".join(f"`train.{key}.{s.target}`" for _, _, s in chosen)
            reporter.error("E0611", f"`{name}` is set per network here", span, "which one?", (f"write {targets}",))
            return
        if chosen:
            i, k, s = chosen[-1]
            _put(merged, i, k, replace(s, value=expr))
        else:  # a setting the files leave at its default: checked like one written in the spec
            i = trains[-1]
            merged.decls[i] = replace(merged.decls[i], settings=merged.decls[i].settings +
                                      (ir.Setting(key, None, expr, span, span, None),))
        merged.note(f"train.{key}" + (f".{target}" if target else ""), expr.span, "set on the command line")
        return
    if not chosen:
        reporter.error("E0610", f"`--set {name}`: the spec sets no `{key}` to change an option of", span,
                       "not set", (), did_you_mean(key, [s.key for i in trains for s in merged.decls[i].settings])
                       or f"set the whole value: `--set train.{key}=...`")
        return
    for i, k, s in chosen:
        if not isinstance(s.value, ir.Call):
            reporter.error("E0611", f"`train.{key}` is not a call with options", span, "no options", (),
                           f"set the whole value: `--set train.{key}=...`", ((s.value.span, "set here"),))
            return
        kwargs = tuple(kw for kw in s.value.kwargs if kw.name != option) + \
            (ir.Kwarg(option, expr, expr.span, span),)
        kept = [kw.name for kw in s.value.kwargs]
        if option in kept:  # keep the option where it was written
            kwargs = tuple(replace(kw, value=expr) if kw.name == option else kw for kw in s.value.kwargs)
        _put(merged, i, k, replace(s, value=replace(s.value, kwargs=kwargs)))
        merged.note(setting_key(s) + f".{option}", expr.span, "set on the command line")


def _put(merged: Merged, i: int, k: int, setting) -> None:
    settings = list(merged.decls[i].settings)
    settings[k] = setting
    merged.decls[i] = replace(merged.decls[i], settings=tuple(settings))
