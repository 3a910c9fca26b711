"""The plan: what the generated files say, decided. Emit prints it and decides nothing.

Lowering (gendsl/lower/) reads the frozen CheckedModel and builds these objects: every
generated name is chosen, every analysis done (the generative path, the autoencoder path,
in-place activations, the closed-form contractive penalty). A `Line` is one line of code
with its comment; templates align the comments.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Line:
    code: str
    comment: str = ""


@dataclass(frozen=True)
class LayerRow:
    """One row of `gendsl summary`."""
    name: str  # the module attribute, or the variable for layers without a module
    op: str
    shape: str
    params: int


@dataclass(frozen=True)
class NetworkPlan:
    name: str  # the spec's name, also the model's attribute
    class_name: str
    role: str
    doc: str  # the class docstring
    doc_line: str  # its line in model.py's module docstring
    init: tuple[str, ...]  # __init__ body
    signature: str  # forward's parameters
    returns: str  # forward's return annotation
    forward: tuple[Line, ...]
    init_fn: str | None  # the weight initialisation applied after construction
    rows: tuple[LayerRow, ...]
    inputs: tuple[tuple[str, str], ...]  # (name, type) for the summary
    param_count: int
    frozen: bool  # read by a loss term, never trained: requires no gradient, always in eval mode


@dataclass(frozen=True)
class AveragePlan:
    """`ema G = ema(decay, start)`: a second copy of a network, its weights an exponential moving
    average of the trained one's; samples and metrics (`generate`) use it."""
    attr: str  # the model attribute of the copy, `G_ema`
    network: str  # the trained network's attribute
    class_name: str
    decay: float
    start: int  # iterations before which the copy follows the network exactly


@dataclass(frozen=True)
class InitPlan:
    name: str
    doc: str
    lines: tuple[str, ...]


@dataclass(frozen=True)
class Method:
    """A method of the model class: `def name(self, params) -> returns:` with a docstring."""
    name: str
    params: str
    returns: str
    doc: str
    body: tuple[Line, ...]


@dataclass(frozen=True)
class ModelPlan:
    """model.py: the per-network classes and the model class that owns them."""
    name: str
    path: str
    sha256: str
    class_name: str
    networks: tuple[NetworkPlan, ...]
    inits: tuple[InitPlan, ...]
    helpers: frozenset[str]  # module-level helpers model.py defines: topk, reparameterize, noise kinds
    methods: tuple[Method, ...]  # forward, prior, generate, sample, encode, decode: those the spec has
    code_size: int | None  # values in one code, for autoencoders
    functional: bool  # model.py reads torch.nn.functional
    averages: tuple[AveragePlan, ...] = ()  # `ema` copies of networks, which `generate` uses

    @property
    def frozen(self) -> tuple[NetworkPlan, ...]:
        return tuple(n for n in self.networks if n.frozen)


@dataclass(frozen=True)
class TermPlan:
    label: str  # the losses.csv column and the key in `terms`
    code: str
    text: str  # the spec's text, as a comment


@dataclass(frozen=True)
class GanPlan:
    discriminator: str  # the model attribute of D
    real: str  # D's arguments on the real batch
    fake: str  # D's arguments on the generated batch
    fake_detached: str  # the same, the generated sample detached
    gp_args: str  # gradient_penalty's arguments after the critic
    values: tuple[str, ...]  # forward values the objective reads
    generators: tuple[str, ...]  # optimizer keys of everything else trained
    kind: str
    probabilities: bool
    gp: float | None
    clip: float | None
    objective: tuple[str, ...]  # the objective's functions, as lines (from the GAN table)
    penalties: tuple[PenaltyPlan, ...] = ()  # R1 / R2
    every: int = 1  # lazy regularisation: the penalties every N iterations
    score_map: str | None = None  # what a discriminator's map of scores is, as a comment
    weight: str = ""  # the term's weight on the generator's side ("" for 1), `0.001` or `0.5 * weights["w"]`
    suffix: str = ""  # of its losses.csv columns: "" for the first term, `_<discriminator>` for the others
    functions: str = ""  # suffix of its objective's function names: "" for the first objective, `_<D>` after
    steps: int | None = None  # its own d_steps where fewer than D_STEPS: it updates on the last `steps` of each D_STEPS
    aux: tuple[str, str] | None = None  # ACGAN: labels of the real and generated batch for D's class head
    real_detached: str = ""  # D's arguments on the real batch, those computed by a network detached ("": as `real`)
    encoders: tuple[str, ...] = ()  # networks computing the real side (BiGAN's E), trained with labels swapped


@dataclass(frozen=True)
class PenaltyPlan:
    column: str  # r1_penalty | r2_penalty
    args: str  # gradient_norm_penalty's arguments after the discriminator
    weight: str  # gamma / 2, times `every` under lazy regularisation


@dataclass(frozen=True)
class OptimizerPlan:
    key: str  # in the optimizers dict and the checkpoint
    cls: str
    params: str
    lr: str
    extra: str  # non-default options, ", betas=(0.5, 0.999)"


@dataclass(frozen=True)
class SchedulerPlan:
    key: str  # the optimizer's key
    code: str  # the torch.optim.lr_scheduler constructor, reading `opt` and `total_steps`


@dataclass(frozen=True)
class WeightPlan:
    name: str
    code: str  # the weight as an expression of `step` and `epoch`


@dataclass(frozen=True)
class TrainPlan:
    """train.py: the spec's loss, objective, optimizers and schedules, and the recipe for the loop."""
    name: str
    path: str
    sha256: str
    model_class: str
    x: str
    labels: str | None  # the label variable's name, for conditional models
    data: tuple[str, ...]  # every data tensor, in the order forward() takes them (x first)
    loss_text: str
    helpers: tuple[str, ...]  # the text of each helper function train.py defines (loss-term table)
    values: tuple[str, ...]  # forward values loss_terms reads
    terms: tuple[TermPlan, ...]
    total: str
    gan: GanPlan | None  # the first adversarial term (gans[0])
    d_steps: int
    d_warmup: tuple[int, int] | None  # (D steps per G step, G steps) before d_steps applies
    averages: tuple[AveragePlan, ...]
    optimizers: tuple[OptimizerPlan, ...]
    schedulers: tuple[SchedulerPlan, ...]
    weights: tuple[WeightPlan, ...]
    validate_extra: tuple[tuple[str, str], ...]  # (column, expression) beyond the terms and the loss
    columns: tuple[str, ...]
    recipe: tuple[tuple[str, str], ...]  # Recipe(...)'s keyword arguments beyond the functions
    uses_functional: bool  # train.py reads torch.nn.functional
    gans: tuple[GanPlan, ...] = ()  # every adversarial term, each with its own discriminator

    @property
    def data_params(self) -> list[str]:
        """The data tensors as parameters of train_step and validate."""
        return [f"{name}: torch.Tensor" for name in self.data]


@dataclass(frozen=True)
class AppsPlan:
    """apps.py: only what its docstring says about the model; the applications are runtime code."""
    name: str
    path: str
    sha256: str
    encoder: str
    code: str
    code_shape: str
    sampled: str | None


@dataclass(frozen=True)
class Plan:
    model: ModelPlan
    train: TrainPlan
    apps: AppsPlan | None
