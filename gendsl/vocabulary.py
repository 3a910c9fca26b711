"""The words of the language, in groups, for the tools around it: the Pygments lexer, the VS Code
grammar (editors/vscode/build.py) and the language server's completion.

Built from the checker's own tables, so a new layer, loss term or setting is highlighted and
completed as soon as the checker knows it.
"""

from __future__ import annotations

# declarations and roles; `import`, `extends`, `override`, `remove` and `insert` make variants of
# other specs (`from` and `as` are in WORDS: `from` also ends a data declaration)
DECLARATIONS = ("model", "extends", "import", "param", "data", "latent", "schedule", "forward", "loss", "train",
                "override", "remove", "insert")
ROLES = ("encoder", "decoder", "generator", "discriminator", "critic", "network")
WORDS = ("in", "from", "as", "after", "before")
CONSTANTS = ("true", "false")
PRIORS = ("normal", "uniform", "categorical", "prior")


def layers() -> tuple[str, ...]:
    from gendsl.check.layers import OPS

    return tuple(sorted(OPS))


def kinds() -> tuple[str, ...]:
    from gendsl.check.declarations import KINDS

    return KINDS


def functions() -> tuple[str, ...]:
    """Everything else called by name: loss terms, GAN objectives, corruptions, priors, schedules,
    optimizers, learning-rate schedules and initialisations."""
    from gendsl.check.flow import CORRUPTIONS
    from gendsl.check.loss import GAN_KINDS, TERMS
    from gendsl.check.layers import WRAPPERS
    from gendsl.check.training import EMA, INITS, LR_SCHEDULES, OPTIMIZERS, WARMUP

    names = set(TERMS) | set(GAN_KINDS) | set(CORRUPTIONS) | set(PRIORS) | {"linear", "cyclical", "constant"}
    names |= set(OPTIMIZERS) | set(LR_SCHEDULES) | set(INITS) | set(EMA) | set(WARMUP) | set(WRAPPERS)
    return tuple(sorted(names - set(layers())))


def settings() -> tuple[str, ...]:
    from gendsl.check.training import SETTINGS

    return SETTINGS
