"""Lower: the checked model (never changed here) to the plan that emit prints.

    plan = lower(checked)   # gendsl.lower.plan.Plan: model.py, train.py and apps.py, decided
"""

from __future__ import annotations

from gendsl.check.result import CheckedModel
from gendsl.lower import analysis
from gendsl.lower.model import lower_model
from gendsl.lower.plan import AppsPlan, Plan
from gendsl.lower.train import lower_train


def lower_apps(model: CheckedModel) -> AppsPlan | None:
    """apps.py exists for models with an autoencoder path whose encoder reads only the data."""
    path = analysis.autoencoder_path(model)
    if path is None:
        return None
    return AppsPlan(model.name, model.path, model.sha256, path.encoder.network, path.code,
                    str(model.variables[path.code]), path.sampled)


def lower(model: CheckedModel) -> Plan:
    return Plan(lower_model(model), lower_train(model), lower_apps(model))
