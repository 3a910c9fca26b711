"""What the checker hands to the emitter: a fully resolved, shape-annotated model.

Everything here is valid by construction; emit never discovers user errors.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gendsl.check.types import TensorType
from gendsl.source import Span


@dataclass(frozen=True)
class Layer:
    op: str
    args: dict[str, Any]
    inputs: list[str]  # variables read, in order
    in_types: list[TensorType]
    out: TensorType
    params: int
    var: str  # variable the output is written to
    statement: str | None  # the statement's name, if it has one
    span: Span
    spectral_norm: bool = False  # wrapped in `spectral_norm(...)`


@dataclass(frozen=True)
class CheckedNetwork:
    role: str
    name: str
    inputs: list[tuple[str, TensorType]]
    outputs: list[tuple[str | None, TensorType, str]]  # (head name, type, variable)
    layers: list[Layer]
    taps: list[tuple[str, TensorType]] = field(default_factory=list)  # named layers the loss reads
    span: Span | None = None

    @property
    def param_count(self) -> int:
        return sum(layer.params for layer in self.layers)

    def named(self, name: str) -> Layer | None:
        for layer in reversed(self.layers):
            if layer.statement == name and layer.var == name:
                return layer
        return None


@dataclass(frozen=True)
class DataDecl:
    name: str
    type: TensorType
    kind: str  # image | vector | label | tensor
    range: tuple[float, float] | None
    source: str | None


@dataclass(frozen=True)
class LatentDecl:
    name: str
    type: TensorType
    prior: str  # normal | uniform | categorical (a label latent, drawn uniformly from its classes)
    prior_args: tuple[float, ...]  # () for categorical


# ---- the forward pass, resolved ----------------------------------------------------

@dataclass(frozen=True)
class CallStep:
    targets: list[str]
    network: str
    args: list[str]
    taps: list[str] = field(default_factory=list)  # extra variables for tapped layers, `net__layer`


@dataclass(frozen=True)
class SampleStep:
    target: str
    dist: str  # prior | normal
    args: list[str]  # (mu, logvar) for normal


@dataclass(frozen=True)
class CorruptStep:
    target: str
    kind: str  # gaussian | masking | salt_and_pepper
    source: str
    amount: float


Step = CallStep | SampleStep | CorruptStep


# ---- the loss, resolved ----------------------------------------------------------------

@dataclass(frozen=True)
class Term:
    kind: str  # mse l1 bce bce_logits cross_entropy kl l1_activity kl_sparsity contractive perceptual gan
    args: list[str]  # variables
    options: dict[str, Any]
    weight: "Weight"
    text: str  # how the spec wrote it, for comments and logs
    label: str  # column name in losses.csv


@dataclass(frozen=True)
class Weight:
    """A product of a constant and schedule names: `alpha * beta` with beta scheduled."""

    constant: float = 1.0
    schedules: tuple[str, ...] = ()

    def times(self, other: "Weight") -> "Weight":
        return Weight(self.constant * other.constant, self.schedules + other.schedules)


@dataclass(frozen=True)
class GanObjective:
    discriminator: str
    real_args: list[str]
    fake_args: list[str]
    kind: str  # minimax | non_saturating | max_likelihood | wasserstein | least_squares
    clip: float | None
    gp: float | None
    probabilities: bool  # discriminator ends in sigmoid
    r1: float | None = None  # gamma of the R1 penalty, gamma/2 E[|grad D(x)|^2] on real data
    r2: float | None = None  # the same on generated samples
    every: int = 1  # lazy regularisation: the penalties every N steps, N times as heavy
    weight: Weight = field(default_factory=Weight)  # scales the generator side only
    label: str = "gan"  # the term's name in the model graph
    aux: tuple[str, str] | None = None  # ACGAN: labels of the real and generated batch for D's class head
    encoders: tuple[str, ...] = ()  # networks computing the real side (BiGAN's E): trained with labels swapped
    encoded: tuple[str, ...] = ()  # the real side's values they compute (`code`), detached in D's update


@dataclass(frozen=True)
class ScheduleDecl:
    name: str
    kind: str  # linear | cyclical | constant
    start: float
    end: float
    length: int
    unit: str  # steps | epochs
    cycles: int = 1


@dataclass(frozen=True)
class OptimizerDecl:
    networks: list[str]
    kind: str  # adam | sgd | rmsprop | adamw
    options: dict[str, Any]


@dataclass(frozen=True)
class LrScheduleDecl:
    networks: list[str]
    kind: str  # constant | linear | cosine | step | exponential
    options: dict[str, Any]


@dataclass(frozen=True)
class TrainDecl:
    optimizers: list[OptimizerDecl]
    lr_schedules: list[LrScheduleDecl]
    batch_size: int = 64
    epochs: int = 10
    d_steps: int = 1
    seed: int = 0
    init: dict[str, tuple[str, float | None]] = field(default_factory=dict)  # network -> (scheme, std)
    spectral_norm: frozenset[str] = frozenset()  # networks whose every conv/linear layer is spectrally normalised
    ema: dict[str, tuple[float, int]] = field(default_factory=dict)  # network -> (decay, start step)
    d_warmup: tuple[int, int] | None = None  # (D steps per G step, for this many G steps) before d_steps
    d_steps_of: dict[str, int] = field(default_factory=dict)  # discriminator -> its own d_steps (`d_steps D = 5`)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CheckedModel:
    name: str
    path: str
    sha256: str
    params: dict[str, Any]
    data: list[DataDecl]
    latents: list[LatentDecl]
    networks: list[CheckedNetwork]
    forward: list[Step]
    terms: list[Term]
    gan: GanObjective | None  # the first adversarial term (gans[0])
    schedules: list[ScheduleDecl]
    train: TrainDecl
    variables: dict[str, TensorType]  # every forward variable
    reaches: dict[str, list[str]] = field(default_factory=dict)  # network -> labels of the loss terms it reaches
    gans: list[GanObjective] = field(default_factory=list)  # every adversarial term, in source order

    def network(self, name: str) -> CheckedNetwork:
        return next(n for n in self.networks if n.name == name)

    @property
    def x(self) -> DataDecl:
        return next(d for d in self.data if not d.type.is_label)

    @property
    def labels(self) -> DataDecl | None:
        return next((d for d in self.data if d.type.is_label), None)
