"""Contracts between networks and the data: declared output shapes, generators and decoders that
produce the data's shape, discriminators, critics and encoders that read it, critics that return one
score. A mixin of the model checker (check/model.py)."""

from __future__ import annotations

from gendsl import ir
from gendsl.check.network import shape_chain
from gendsl.check.types import TensorType
from gendsl.source import Span


class ContractChecks:
    def _outputs_match(self, net: ir.Network, checked, types, checker) -> bool:
        ok = True
        for head, (name, t, var), history in zip(net.outputs, checked.outputs, checker.output_histories):
            declared = self._guard(self._type, head.type, types)
            if declared is None or t is None:
                ok = ok and declared is not None
                continue
            if declared != t:
                what = f"output `{name}`" if name else "the output"
                chain = shape_chain(history)
                notes = [f"shapes: {chain}"] if chain else []
                self.reporter.error("E0308",
                                    f"{what} of `{net.name}` is declared {declared}, but the body computes {t}",
                                    head.type.span, f"declared {declared}", notes, _shape_fix(declared, t))
                ok = False
        return ok

    # -- cross-network contracts -----------------------------------------------------

    def _contracts(self, data, networks, checkers) -> None:
        """Generators/decoders produce data, encoders read it, discriminators/critics score what they read.
        A network that breaks its contract is reported once and then treated as broken (no cascades)."""
        xs = [d for d in data if not d.type.is_label]
        if not xs:
            return
        x = xs[0]

        def data_of(t):  # several data tensors (paired images): a network reads or makes any of them
            return next((d for d in xs if d.type == t), x)

        for net in self.spec.of(ir.Network):
            checked = networks.get(net.name)
            if checked is None or self.declared.get(net.name) is not net:
                continue
            broken = False
            if net.role in ("generator", "decoder"):
                t = checked.outputs[0][1]
                x = data_of(t)
                if t != x.type:
                    chain = shape_chain(checkers[net.name].output_histories[0])
                    self.reporter.error("E0420", f"{net.role} `{net.name}` produces {t}, but the data `{x.name}` is "
                                        f"{x.type}", net.outputs[0].type.span, f"produces {t}",
                                        [f"shapes: {chain}"] if chain else [],
                                        f"make `{net.name}` produce {x.type}, the shape of `{x.name}`",
                                        ((_data_type_span(self.spec, x.name), f"`{x.name}` declared here"),))
                    broken = True
            # a discriminator or critic takes whatever it is declared to take (images, codes, pairs): the
            # `gan` term checks that both of its sides fit; an encoder reads the data (any of several tensors)
            if net.role == "encoder":
                x = data_of(checked.inputs[0][1]) if checked.inputs else xs[0]
                if not checked.inputs or checked.inputs[0][1] != x.type:
                    got = checked.inputs[0][1] if checked.inputs else "nothing"
                    span = net.inputs[0].span if net.inputs else net.name_span
                    self.reporter.error("E0421", f"{net.role} `{net.name}` takes {got}, but the data `{x.name}` is "
                                        f"{x.type}", span, f"takes {got}", (),
                                        f"its first input must be the data: `{net.name}({x.name})`",
                                        ((_data_type_span(self.spec, x.name), f"`{x.name}` declared here"),))
                    broken = True
            if net.role in ("discriminator", "critic") and checked.outputs and not is_score(checked.outputs[0][1]):
                t = checked.outputs[0][1]
                self.reporter.error("E0422", f"{net.role} `{net.name}` returns {t} per sample, but it must return one "
                                    "score, (1,), or a map of scores, (1, h, w)", net.outputs[0].type.span,
                                    "not a score" + (" map: more than one channel" if t.rank == 3 else ""),
                                    ("a map scores each patch of the input on its own (PatchGAN); the objective "
                                     "averages over positions",),
                                    "end it with `flatten -> linear(1)`, or a conv2d to 1 channel: "
                                    "`conv2d(1, 4, padding=1)`" if t.rank == 3 else
                                    "end it with `linear(1)`")
                broken = True
            if broken:
                networks[net.name] = None


def is_score(t: TensorType) -> bool:
    """What a discriminator returns per sample: one score, or a map of scores with one channel
    (one per position, PatchGAN)."""
    return not t.is_label and (t.numel == 1 or (t.rank == 3 and t.shape[0] == 1))


def _data_type_span(spec: ir.Spec, name: str) -> Span:
    for d in spec.of(ir.Data):
        if d.name == name:
            return d.type.span
    return Span(0, 0)


def _shape_fix(declared: TensorType, got: TensorType) -> str | None:
    if declared.numel == got.numel and declared.shape != got.shape:
        return f"add `reshape({', '.join(map(str, declared.shape))})` at the end"
    if got.rank == 3 and declared.rank == 3 and got.shape[0] == declared.shape[0]:
        return "adjust kernel, stride or padding of the up/down-sampling layers"
    if got.rank == 3 and declared.rank == 1:
        return "add `flatten` at the end"
    if got.rank == declared.rank == 1:
        return f"end the network with `linear({declared.shape[0]})`"
    return None
