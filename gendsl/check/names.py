"""Which names a spec may use: they become Python identifiers in generated code."""

from __future__ import annotations

import builtins
import keyword
import re

from gendsl.diagnostics import error
from gendsl.source import Span

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")

# Names the generated code itself uses, and attributes every nn.Module has.
# Kept as text so the compiler never imports torch.
GENERATED_NAMES = frozenset("""
torch nn F math dataclass dataclasses field Params Tensor Optional self cls super
args argparse os sys time json csv random np numpy main train evaluate build_networks
topk_activation init_dcgan init_xavier init_kaiming
nets values weights terms loss log opt optimizer optimizers extra update_generator d_real d_fake loss_d loss_g
penalty parameter scaler NO_SCALING contextlib iteration Path signal DataError fake_data load_data toy_modes
accuracy_per_class mode_metrics CsvLog
atomic_save atomic_write_json plot_losses save_image_grid save_latent_scatter save_scatter_2d reparameterize
kl_to_standard_normal kl_to_normal l1_activity kl_sparsity contractive_penalty gaussian_noise masking_noise
salt_and_pepper gan_losses discriminator_loss discriminator_loss_real discriminator_loss_fake loss_real loss_fake
generator_loss gradient_penalty loss_weights model_forward loss_terms auxiliary_loss aux_real aux_fake c_real c_fake
train_step make_optimizers make_schedulers batches generate generate_many first chunk save_samples final_metrics
load_checkpoint
spectral_norm SelfAttention update_ema gradient_norm_penalty updates_generator D_STEPS WARMUP_D_STEPS
WARMUP_G_STEPS
save_checkpoint parse_args pick_device device n row sums count codes labels shown pairs modes samples metrics
SPEC_SHA256 DATA_SHAPE DATA_RANGE NUM_CLASSES DEFAULT_DATA D_STEPS TRAINED FROZEN
floats model Recipe RECIPE validate run prior sample encode decode code_size
""".split())
# helpers and variables named after their arguments
# discriminator_loss_/generator_loss_: the objective functions of a second adversarial term (`generator_loss_Dx`)
GENERATED_PREFIXES = ("init_normal_", "sample_", "opt_", "contractive_", "pretrained_", "discriminator_loss_",
                      "generator_loss_")
MODULE_ATTRIBUTES = frozenset("""
T_destination add_module apply bfloat16 buffers call_super_init children compile cpu cuda
double dump_patches eval extra_repr float forward get_buffer get_extra_state get_parameter
get_submodule half ipu load_state_dict modules mtia named_buffers named_children named_modules
named_parameters parameters register_backward_hook register_buffer register_forward_hook
register_forward_pre_hook register_full_backward_hook register_full_backward_pre_hook
register_load_state_dict_post_hook register_load_state_dict_pre_hook register_module
register_parameter register_state_dict_post_hook register_state_dict_pre_hook requires_grad_
set_extra_state set_submodule share_memory smart_apply state_dict to to_empty train training
type xpu zero_grad
""".split())
BUILTINS = frozenset(name for name in dir(builtins) if not name.startswith("_"))


def check_identifier(name: str, span: Span, what: str) -> None:
    """Refuse a name that is not a plain ASCII identifier or that generated code reserves."""
    if not _IDENT.match(name):
        raise error("E0206", f"{what} name `{name}` is not a plain ASCII identifier", span,
                    "not allowed here",
                    ("names become Python identifiers in generated code",),
                    "use letters a-z, A-Z, digits and `_`, starting with a letter")
    if name.startswith("__") or name.startswith("_"):
        raise error("E0207", f"{what} name `{name}` starts with `_`", span, "reserved",
                    ("names starting with `_` are reserved for generated code",),
                    f"rename it, e.g. `{name.lstrip('_') or 'v'}`")
    # parameters only become fields of the `Params` dataclass, so only keywords clash there
    only_keywords = what == "parameter"
    if keyword.iskeyword(name) or keyword.issoftkeyword(name) or not only_keywords and (
            name in GENERATED_NAMES or name in MODULE_ATTRIBUTES or name in BUILTINS
            or name.startswith(GENERATED_PREFIXES)):
        raise error("E0207", f"{what} name `{name}` is reserved in generated Python code", span,
                    "reserved name",
                    ("it is a Python keyword, a builtin, an `nn.Module` attribute or a name the generated code uses",),
                    f"rename it, e.g. `{name}_` or `my_{name}`")


def check_text(value: str, span: Span, what: str) -> None:
    """Refuse a spec string that could break out of generated comments, strings and docstrings.

    A data source is shown in train.py's docstring and comments: a newline would start a
    line of code (`from "mnist5k\\nimport os"`), a `\"\"\"` would end the docstring, and a
    backslash would be read as an escape (`\\N` does not even compile).
    """
    bad = next((ch for ch in value if not ch.isprintable() or ch in '"\\'), None)
    if bad is not None:
        shown = bad if bad in '"\\' else bad.encode("unicode_escape").decode("ascii")
        raise error("E0209", f"{what} contains `{shown}`", span, "not allowed here",
                    ("generated code shows this string in comments and docstrings",),
                    'write paths with "/"' if bad == "\\" else "remove it")


def one_line(source: str) -> str:
    """Spec text (a loss term) as shown in generated comments and docstrings: one line, no comments."""
    return re.sub(r" ,", ",", " ".join(re.sub(r"#[^\n]*", " ", source).split()))
