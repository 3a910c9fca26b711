"""The checker's tables and the lowering's tables name the same constructs.

Each loss term, GAN objective, optimizer, schedule, initialisation and corruption is accepted by
check (gendsl/check/) and printed by lowering (gendsl/lower/); a construct in one table and not
the other is a spec that checks but cannot be emitted, or code nobody can reach. Layers: every op
of check's table either has a module constructor in lowering or is an op without parameters that
lowering writes as a function call; the catalogue and the Hypothesis specs compile every op.
"""

from __future__ import annotations

from pathlib import Path

from gendsl.check import flow, layers as check_layers, loss as check_loss, training as check_training
from gendsl.lower import losses, model as lower_model, train as lower_train
from gendsl.driver import compile_path
from gendsl.lower.names import ATTR_PREFIX, layer_attributes

ROOT = Path(__file__).resolve().parents[2]


def test_loss_terms():
    checked = set(check_loss.TERMS) - {"gan"}  # `gan(...)` is the objective, its own table below
    assert checked == set(losses.TERMS)


def test_gan_objectives():
    assert set(check_loss.GAN_KINDS) == set(losses.GAN_OBJECTIVES)
    for kind, parts in losses.GAN_OBJECTIVES.items():
        # the generator's loss, and the discriminator's whole and halves (penalty or two passes)
        assert {"both", "real", "fake", "generator"} <= set(parts), kind
    # a real side computed by a network (BiGAN): the objectives the check accepts there have a
    # generator-side loss of the real side, the others a reason for E0515
    assert set(check_loss.REAL_SIDE_KINDS) == set(losses.REAL_SIDE)
    assert set(check_loss.REAL_SIDE_KINDS) | set(check_loss.REAL_SIDE_REFUSED) == set(check_loss.GAN_KINDS)


def test_optimizers():
    assert set(check_training.OPTIMIZERS) == set(lower_train.OPTIMIZERS)
    for kind, (_, defaults) in lower_train.OPTIMIZERS.items():
        # every option torch defaults is one check accepts, with the same default
        options = check_training.OPTIMIZERS[kind]
        assert {k: options[k][1] for k in defaults} == defaults, kind


def test_schedules():
    assert set(check_training.LR_SCHEDULES) - {"constant"} == set(lower_train.LR_SCHEDULES)


def test_initialisations():
    assert set(check_training.INITS) - {"default"} == set(lower_model.INITS) | {"normal"}


def test_corruptions():
    assert {kind for kind, _, _ in flow.CORRUPTIONS.values()} == set(lower_model.CORRUPTIONS)
    assert set(flow.CORRUPTIONS) == set(lower_model.CORRUPTIONS.values())


def test_layers_with_a_module_are_named_by_lowering():
    """Every layer with parameters, in every catalogue spec and golden case, gets a module attribute."""
    assert set(ATTR_PREFIX) <= set(check_layers.OPS)
    specs = sorted((ROOT / "specs").glob("*.gen")) + sorted((ROOT / "tests" / "cases").glob("*/spec.gen"))
    seen = set()
    for path in specs:
        result = compile_path(str(path))
        assert result.ok, path
        for net in result.model.networks:
            for layer, attr in zip(net.layers, layer_attributes(net)):
                if layer.params:
                    seen.add(layer.op)
                    assert attr is not None, (path.name, net.name, layer.op)
    assert seen <= set(ATTR_PREFIX) and len(seen) >= 5
