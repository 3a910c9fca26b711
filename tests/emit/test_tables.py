"""The checker's tables and the lowering's tables name the same constructs.

Each loss term, GAN objective, optimizer, schedule, initialisation and corruption is accepted by
check (gendsl/check/) and printed by lowering (gendsl/lower/); a construct in one table and not
the other is a spec that checks but cannot be emitted, or code nobody can reach. Layers: every op
of check's table either has a module constructor in lowering or is an op without parameters that
lowering writes as a function call; the catalogue and the Hypothesis specs compile every op.
"""

from __future__ import annotations

from gendsl.check import flow, layers as check_layers, loss as check_loss, training as check_training
from gendsl.lower import losses, model as lower_model, train as lower_train
from gendsl.lower.names import ATTR_PREFIX


def test_loss_terms():
    checked = set(check_loss.TERMS) - {"gan"}  # `gan(...)` is the objective, its own table below
    assert checked == set(losses.TERMS)


def test_gan_objectives():
    assert set(check_loss.GAN_KINDS) == set(losses.GAN_OBJECTIVES)
    for kind, parts in losses.GAN_OBJECTIVES.items():
        # the generator's loss, and the discriminator's whole and halves (penalty or two passes)
        assert {"both", "real", "fake", "generator"} <= set(parts), kind


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
    with_params = {name for name, op in check_layers.OPS.items() if op.prefix}
    assert with_params <= set(ATTR_PREFIX)
    assert set(ATTR_PREFIX) <= set(check_layers.OPS)
