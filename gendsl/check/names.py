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
""".split())
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
        raise error("E0206", f"{what} name `{name}` starts with `_`", span, "reserved",
                    ("names starting with `_` are reserved for generated code",),
                    f"rename it, e.g. `{name.lstrip('_') or 'v'}`")
    if keyword.iskeyword(name) or keyword.issoftkeyword(name) or name in GENERATED_NAMES \
            or name in MODULE_ATTRIBUTES or name in BUILTINS:
        raise error("E0206", f"{what} name `{name}` is reserved in generated Python code", span,
                    "reserved name",
                    ("it is a Python keyword, a builtin, an `nn.Module` attribute or a name the generated code uses",),
                    f"rename it, e.g. `{name}_` or `my_{name}`")
