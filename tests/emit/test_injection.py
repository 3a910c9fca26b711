"""Injection tests: no spec can make the generated code do anything but what the spec says.

Hostile identifiers (Python keywords, dunders, names the generated code uses, unicode
look-alikes), hostile strings and numbers, and hostile file names are either refused
with a diagnostic at the offending name, or compiled to code that (1) passes an AST audit
and (2) builds and runs the networks the spec describes.

The audit (`audit`) walks every generated Python file:

- model.py may import only torch, torch.nn, torch.nn.functional and __future__; at module
  level it only imports and defines, and a class body only defines and sets constants;
  every call's callee is on an allow-list (torch/F/nn functions, its own classes and helpers,
  `self.<module>` set in `__init__`, the class's own methods and a few nn.Module methods,
  tensor methods on local variables);
- the shared runtime (`../gendsl_runtime/*.py`) must be byte-for-byte gendsl/runtime/ (no spec
  reaches it);
- any other generated file (train.py, ...) may import only the modules in
  ALLOWED_IMPORTS and never calls eval/exec/compile/__import__/os.system/subprocess/....

The allow-lists are plain sets below: extend them when generated code legitimately needs more.
"""

from __future__ import annotations

import ast
import keyword
import sys
import types
from pathlib import Path

import pytest


from gendsl.driver import compile_source  # noqa: E402
from gendsl.lower.names import model_class_name, network_class_names  # noqa: E402
from gendsl.source import SourceFile  # noqa: E402

torch = pytest.importorskip("torch")
from shape_trace import run_and_compare  # noqa: E402
from model_support import networks_of  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
RUNTIME = ROOT / "gendsl" / "runtime"

# ---- allow-lists ------------------------------------------------------------------------

MODEL_IMPORTS = {"__future__", "torch", "torch.nn", "torch.nn.functional"}
STDLIB = {"__future__", "argparse", "csv", "collections", "contextlib", "dataclasses", "datetime", "functools",
          "itertools", "json", "math", "os", "pathlib", "random", "re", "shutil", "signal", "sys", "tempfile",
          "time", "typing", "warnings", "shlex", "io", "hashlib", "platform", "glob", "copy", "string",
          "textwrap", "traceback", "logging", "statistics", "struct", "enum", "numbers", "operator"}
THIRD_PARTY = {"torch", "torch.nn", "torch.nn.functional", "torch.optim", "torch.utils.data", "numpy", "tqdm",
               "matplotlib", "matplotlib.pyplot", "matplotlib.figure", "matplotlib.image",
               "matplotlib.backends.backend_agg", "sklearn.datasets", "mlxtend.data", "PIL", "torchvision",
               "torchvision.datasets", "torchvision.transforms.v2.functional", "torchvision.utils",
               "torchvision.models"}
GENERATED_SIBLINGS = {"model", "train", "apps"}  # files of the same folder
RUNTIME_PACKAGE = "gendsl_runtime"  # the shared runtime beside the model's folder (gendsl/runtime/)
# file name -> modules it may import; files not listed get DEFAULT_IMPORTS
ALLOWED_IMPORTS: dict[str, set[str]] = {"model.py": MODEL_IMPORTS}
DEFAULT_IMPORTS = STDLIB | THIRD_PARTY | GENERATED_SIBLINGS | {RUNTIME_PACKAGE}

NN_MODULES = {"Linear", "Conv2d", "ConvTranspose2d", "BatchNorm1d", "BatchNorm2d", "LayerNorm", "Embedding", "PReLU",
              "InstanceNorm2d", "GroupNorm", "Parameter"}
IMPORTED_CALLS = {"spectral_norm"}  # from torch.nn.utils.parametrizations
NN_INIT = {"normal_", "zeros_", "ones_", "constant_", "uniform_", "xavier_uniform_", "xavier_normal_",
           "kaiming_uniform_", "kaiming_normal_", "orthogonal_"}
TORCH_FUNCS = {"cat", "flatten", "sigmoid", "tanh", "zeros_like", "zeros_like().scatter",
               "zeros_like().scatter().view_as", "exp", "randn", "rand", "randn_like", "rand_like",
               "where", "full_like", "zeros", "softmax", "bmm", "randint"}
F_FUNCS = {"relu", "selu", "gelu", "silu", "leaky_relu", "elu", "softplus", "dropout", "pixel_shuffle", "interpolate",
           "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "one_hot", "one_hot().float", "pad", "dropout2d",
           "softmax"}
MODEL_BUILTINS = {"super", "isinstance", "next"}
MODULE_METHODS = {"parameters", "train", "eval", "requires_grad_", "requires_grad_().eval", "apply"}  # nn.Module's
LOCAL_METHODS = {"reshape", "topk", "apply", "find", "view", "float", "size", "transpose"}
SAFE_DUNDERS = {"__init__", "__class__", "__name__", "__future__"}
# never called by any generated file, whatever it is
FORBIDDEN_CALLS = {"eval", "exec", "compile", "__import__", "breakpoint", "input", "globals", "locals", "vars",
                   "os.system", "os.popen", "os.execv", "os.execve", "os.execl", "os.execvp", "os.spawnv",
                   "os.spawnl", "os.fork", "os.kill", "pickle.loads", "pickle.load", "marshal.loads",
                   "importlib.import_module", "subprocess.run", "subprocess.call", "subprocess.Popen",
                   "subprocess.check_output", "subprocess.check_call", "shutil.rmtree", "ctypes.CDLL"}


def callee(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return callee(node.value) + "." + node.attr
    if isinstance(node, ast.Call):
        return callee(node.func) + "()"
    return f"<{type(node).__name__}>"


def _imports(tree: ast.Module) -> list[str]:
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = "." * node.level + (node.module or "")
            out.append(base)
            # `from torch import nn` imports the module torch.nn
            out += [f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in MODEL_IMPORTS | DEFAULT_IMPORTS]
    return out


def _common(name: str, tree: ast.Module, problems: list[str]) -> None:
    allowed = ALLOWED_IMPORTS.get(name, DEFAULT_IMPORTS)
    for module in _imports(tree):
        if module not in allowed and not any(module.startswith(a + ".") for a in allowed if a != "__future__"):
            problems.append(f"{name}: imports {module}")
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and callee(node.func) in FORBIDDEN_CALLS:
            problems.append(f"{name}:{node.lineno}: calls {callee(node.func)}")
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id in FORBIDDEN_CALLS:
            problems.append(f"{name}:{node.lineno}: names {node.id}")
        if isinstance(node, ast.Attribute) and node.attr.startswith("__") and node.attr not in SAFE_DUNDERS:
            problems.append(f"{name}:{node.lineno}: reads attribute {node.attr}")


def _audit_model(tree: ast.Module, problems: list[str]) -> None:
    top_level = set()
    for stmt in tree.body:
        if isinstance(stmt, (ast.Import, ast.ImportFrom)):
            continue
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, str):
            continue  # the docstring
        if isinstance(stmt, (ast.ClassDef, ast.FunctionDef)):
            top_level.add(stmt.name)
            continue
        problems.append(f"model.py:{stmt.lineno}: runs code at import: {ast.unparse(stmt)[:80]}")
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            for deco in node.decorator_list:
                problems.append(f"model.py:{node.lineno}: decorator {ast.unparse(deco)}")
            for stmt in node.body:
                if isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Constant) \
                        and isinstance(stmt.value.value, int):
                    continue  # a constant of the model class (code_size)
                if not isinstance(stmt, (ast.FunctionDef, ast.Expr, ast.Pass)):
                    problems.append(f"model.py:{stmt.lineno}: class body runs {ast.unparse(stmt)[:80]}")
    classes = {n.name: n for n in tree.body if isinstance(n, ast.ClassDef)}
    for cls in classes.values():
        modules = set()
        for node in ast.walk(cls):
            if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Attribute) \
                    and callee(node.targets[0].value) == "self" and isinstance(node.value, ast.Call) \
                    and (callee(node.value.func).startswith("nn.") or callee(node.value.func) in classes
                         or callee(node.value.func) in IMPORTED_CALLS):
                modules.add(node.targets[0].attr)  # an nn layer (spectrally normalised or not), or a network here
        methods = {n.name for n in cls.body if isinstance(n, ast.FunctionDef)}
        for fn in (n for n in cls.body if isinstance(n, ast.FunctionDef)):
            _audit_function(fn, top_level, modules | methods | MODULE_METHODS, problems)
    for fn in (n for n in tree.body if isinstance(n, ast.FunctionDef)):
        _audit_function(fn, top_level, set(), problems)


def _audit_function(fn: ast.FunctionDef, top_level: set[str], modules: set[str], problems: list[str]) -> None:
    local = {a.arg for a in fn.args.args}
    for node in ast.walk(fn):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            local.add(node.id)
    for node in ast.walk(fn):
        if not isinstance(node, ast.Call):
            continue
        name = callee(node.func)
        head, _, rest = name.partition(".")
        ok = (
            name in MODEL_BUILTINS | {"super().__init__"} | IMPORTED_CALLS
            or (name in top_level and head not in local)
            or (head == "nn" and (rest in NN_MODULES or rest.startswith("init.") and rest[5:] in NN_INIT))
            or (head == "torch" and rest in TORCH_FUNCS)
            or (head == "F" and rest in F_FUNCS)
            or (head == "self" and rest in modules)
            # a module's or torch function's result, then tensor methods: `self.query(x).view(...).transpose(...)`
            or (head in ("self", "torch") and "()" in rest and (rest.split("()")[0] in modules if head == "self" else
                                                                rest.split("()")[0] in TORCH_FUNCS)
                and all(part.lstrip(".") in LOCAL_METHODS for part in rest.split("()")[1:] if part))
            or (head == "self" and rest.partition(".")[0] in modules and rest.partition(".")[2] in MODULE_METHODS)
            or (head in local and head not in top_level | {"torch", "F", "nn", "self"} and rest in LOCAL_METHODS)
        )
        if not ok:
            problems.append(f"model.py:{node.lineno}: in {fn.name}: call to {name} is not allowed")


def _is_copy(name: str, text: str) -> bool:
    """A file of the shared runtime, byte for byte the gendsl/runtime/ file of its name."""
    folder, _, base = name.rpartition("/")
    if folder != f"../{RUNTIME_PACKAGE}":
        return False
    runtime = RUNTIME / base
    return runtime.exists() and text == runtime.read_text(encoding="utf-8")


def audit(files: dict[str, str]) -> list[str]:
    """Everything in the generated files that no spec should be able to cause."""
    problems: list[str] = []
    for name, text in sorted(files.items()):
        if not name.endswith(".py"):
            continue
        if name.startswith(f"../{RUNTIME_PACKAGE}/"):
            if not _is_copy(name, text):
                problems.append(f"{name}: not byte for byte gendsl/runtime/{name.rpartition('/')[2]}")
            continue  # copied verbatim: no spec reaches it
        try:
            tree = ast.parse(text)
        except SyntaxError as exc:
            problems.append(f"{name}: not valid Python: {exc}")
            continue
        _common(name, tree, problems)
        if name == "model.py":
            _audit_model(tree, problems)
    return problems


def load(code: str, name: str = "hostile_model"):
    module = types.ModuleType(name)
    sys.modules[name] = module
    try:
        exec(compile(code, f"<{name}>", "exec"), module.__dict__)
    finally:
        del sys.modules[name]
    return module


# ---- the template ----------------------------------------------------------------------

TEMPLATE = """model {M}
param {P} = 4
data {X}: [8] in [0, 1] from "mnist5k"
latent {Z}: [{P}] ~ normal(0, 1)
encoder {E}({X}) -> ({MU}: [{P}], {LV}: [{P}]) {{
    {H} = linear(16) -> relu
    {MU} = {H} -> linear({P})
    {LV} = {H} -> linear({P})
}}
decoder {D}({Z}) -> [8] {{
    {H2} = linear(16) -> relu
    {H2} -> linear(8) -> sigmoid
}}
forward {{
    {MU2}, {LV2} = {E}({X})
    {Z} ~ normal({MU2}, {LV2})
    {XH} = {D}({Z})
}}
loss = bce({XH}, {X}) + kl({Z})
"""
DEFAULTS = dict(M="m", P="p", X="x", Z="z", E="enc", D="dec", H="hid", H2="hid2", MU="mu", LV="logvar",
                MU2="m1", LV2="v1", XH="x_hat")
SLOTS = {"model": ["M"], "param": ["P"], "data": ["X"], "latent": ["Z"], "network": ["E", "D"],
         "statement": ["H", "H2"], "head": ["MU"], "variable": ["MU2", "XH"]}

HOSTILE_NAMES = (
    ["class", "def", "lambda", "None", "True", "False", "import", "return", "yield", "async", "await", "match",
     "case", "type", "_", "__init__", "__class__", "__import__", "__builtins__", "__dict__", "_private"]
    + ["torch", "nn", "F", "f", "self", "super", "Params", "params", "build_networks", "topk_activation",
       "init_dcgan", "init_normal_0_02", "init_xavier", "dataclass", "dataclasses", "annotations", "h", "h_",
       "fc1", "fc2", "forward", "training", "parameters", "cuda", "eval", "exec", "open", "print", "os", "sys",
       "np", "math", "x", "Enc", "Dec", "ENC", "true", "none", "tensor", "Tensor", "linear", "relu", "prior",
       "module", "classname", "flat", "values", "indices", "k"]
    + ["ｘ", "хx", "xа", "ﬁ", "µ", "é", "x\u200b"]  # fullwidth, Cyrillic х/а, ligature (NFKC), micro sign, ...
)


def fill(**names) -> str:
    return TEMPLATE.format(**(DEFAULTS | names))


def _occurrences(text: str, name: str) -> list[tuple[int, int]]:
    out, start = [], 0
    while (i := text.find(name, start)) >= 0:
        out.append((i, i + len(name)))
        start = i + 1
    return out


def check_outcome(text: str, hostile: str | None = None):
    """Refused at the hostile name, or compiled to audited code that runs as the spec says."""
    result = compile_source(SourceFile("hostile.gen", text))  # never raises
    if not result.ok:
        errors = [d for d in result.diagnostics if d.is_error]
        assert errors
        for d in result.diagnostics:
            assert d.span is not None and 0 <= d.span.start <= d.span.end <= len(text)
        if hostile is not None:
            spots = _occurrences(text, hostile)
            assert any(a <= d.span.start < b or d.span.start <= a < max(d.span.end, d.span.start + 1)
                       for d in errors for a, b in spots), \
                (hostile, [(d.code, d.message, text[d.span.start:d.span.end]) for d in errors])
        return result
    problems = audit(result.files)
    assert not problems, "\n".join(problems)
    module = load(result.files["model.py"])
    # the module's own names are intact: nothing in the spec shadowed them
    assert module.torch is torch and module.nn is torch.nn and module.F is torch.nn.functional
    # the model class is the one lowering named, and owns exactly the spec's networks
    model_cls = getattr(module, model_class_name(result.model))
    assert issubclass(model_cls, torch.nn.Module)
    assert [name for name, _ in model_cls().named_children()] == [n.name for n in result.model.networks]
    run_and_compare(result, 2)
    return result


@pytest.mark.parametrize("slot", sorted(SLOTS))
@pytest.mark.parametrize("name", HOSTILE_NAMES, ids=[ascii(n)[1:-1] for n in HOSTILE_NAMES])
def test_hostile_names(slot, name):
    names = {key: name for key in SLOTS[slot]}
    if slot == "statement":  # H and H2 live in different networks: the same name is fine
        pass
    text = fill(**names)
    result = check_outcome(text, name)
    if not name.isascii() or not name.isidentifier() or keyword.iskeyword(name) or name.startswith("_"):
        assert not result.ok, f"{name!r} as a {slot} name was accepted"


def test_python_keywords_are_always_refused():
    for name in keyword.kwlist + keyword.softkwlist:
        for slot in ("param", "statement", "network", "variable"):
            result = compile_source(SourceFile("k.gen", fill(**{k: name for k in SLOTS[slot]})))
            assert not result.ok, (name, slot)


@pytest.mark.parametrize("names", [
    dict(E="f", D="F_"),          # `F` would shadow torch.nn.functional
    dict(E="Enc", D="dec"),       # class `Enc` = the variable `Enc` in build_networks
    dict(E="a_b", D="aB"),        # both camel-case to `AB`
    dict(E="true", D="none"),     # `True` and `None` are keywords
    dict(E="params", D="tensor"),  # `Params` is the parameters' dataclass
    dict(E="enc", D="EncNet"),
    dict(E="Enc", D="EncNet"),
    dict(E="exception", D="dec"),  # `Exception` is a builtin
])
def test_network_names_that_camel_case_into_clashes(names):
    """Regression: these produced classes that shadowed `F`/`Params`/each other, or `True`."""
    result = check_outcome(fill(**names))
    assert result.ok, [d.message for d in result.diagnostics]
    classes = list(network_class_names(result.model).values())
    assert len(set(classes)) == len(classes)
    module = load(result.files["model.py"])
    nets = networks_of(module)
    assert set(nets) == {names["E"], names["D"]}
    for net in result.model.networks:
        assert type(nets[net.name]).__name__ == network_class_names(result.model)[net.name]


@pytest.mark.parametrize("name", ["topk_activation", "init_dcgan", "init_xavier", "init_kaiming",
                                  "init_normal_0_02"])
def test_generated_helper_names_are_reserved(name):
    """Regression: a statement named `topk_activation` shadowed the helper inside `forward`;
    a network named `init_dcgan` shadowed the init function inside `build_networks`."""
    text = fill(H=name, E=name if name != "topk_activation" else "enc")
    result = compile_source(SourceFile("r.gen", text))
    assert not result.ok
    assert any("reserved" in d.message for d in result.diagnostics)


def test_statement_named_like_the_input_is_refused():
    text = fill(H="x")
    result = check_outcome(text, "x")
    assert not result.ok


# ---- strings ---------------------------------------------------------------------------

HOSTILE_STRINGS = ['"\\"\\"\\" + __import__(\\"os\\").system(\\"echo pwned\\") + \\"\\"\\""', '"a\\\\N{b"',
                   '"mnist5k\\nimport os; os.system(\\"echo pwned\\")"', '"a\rb"', '"a\x0bb"', '"a\x01b"',
                   '"a\\"b"', '"back\\\\slash"', '"new\\nline"', '"tab\\there"',
                   '"\'; import os; os.system(\'echo pwned\') #"', '"\\"); __import__(\\"os\\").system(\\"x\\"); (\\""',
                   '"\\u2028"', '"é😀\u2028\u0085"', '"${HOME}"', '"../../etc/passwd"', '"{x}"', '"%s"', '""',
                   '"\\\\"', '"a" "b"', "'single'", '"""triple"""', '"unterminated']


def _unquote(s: str) -> str:
    import re
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), s[1:-1])


def structure(code: str) -> str:
    """The code's AST with every string constant blanked: what a string from the spec may not change."""
    tree = ast.parse(code)
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            node.value = ""
    return ast.dump(tree)


def same_structure(files: dict[str, str], twin: dict[str, str]) -> None:
    assert set(files) == set(twin)
    for name in files:
        if name.endswith(".py"):
            assert structure(files[name]) == structure(twin[name]), f"{name}: the string changed the code"


@pytest.mark.parametrize("string", HOSTILE_STRINGS, ids=range(len(HOSTILE_STRINGS)))
def test_hostile_data_sources(string):
    text = fill().replace('"mnist5k"', string)
    result = check_outcome(text)
    if result.ok:
        # differential: the generated code is the benign spec's code, strings aside
        same_structure(result.files, compile_source(SourceFile("hostile.gen", fill())).files)
        value = _unquote(string)
        for name, code in result.files.items():
            if name.endswith(".py") and value and value in code and name != "model.py" and not _is_copy(name, code):
                # the string is only ever data: some constant equals it exactly
                constants = {n.value for n in ast.walk(ast.parse(code)) if isinstance(n, ast.Constant)}
                assert value in constants or any(isinstance(c, str) and value in c for c in constants), name


@pytest.mark.parametrize("string", HOSTILE_STRINGS[:8], ids=range(8))
def test_hostile_imports_are_refused(string):
    text = f"import {string}\n" + fill()
    result = compile_source(SourceFile("i.gen", text))
    assert not result.ok


# ---- numbers ---------------------------------------------------------------------------

@pytest.mark.parametrize("number", ["1e999", "-1e999", "nan", "inf", "-inf", "10**10**10", "9" * 5000, "0x10",
                                    "1_000", "1e-320", "2**53", "2**53 + 1", "-0.0", "0.1 + 0.2", "1e308 * 10",
                                    "(-8) ** 0.5", "0 ** -1", "4.0", "4.5", "true"])
def test_hostile_numbers(number):
    text = fill().replace("param p = 4", f"param p = {number}")
    result = check_outcome(text)
    if result.ok:  # a dimension: only whole, positive, modest values compile
        assert result.model.params["p"] == 4 or result.model.params["p"] == 4.0


@pytest.mark.parametrize("value", ["1e-320", "-0.0", "0.0", "1e-300", "5e-324", "0.99999999999999989"])
def test_extreme_float_arguments_round_trip(value):
    """A float the spec accepts reaches the code as exactly that float (repr round-trips)."""
    text = fill().replace("linear(16) -> relu\n    {MU}".format(MU="mu"), f"linear(16) -> leaky_relu({value})\n    mu")
    result = check_outcome(text)
    if result.ok:
        code = result.files["model.py"]
        calls = [n for n in ast.walk(ast.parse(code)) if isinstance(n, ast.Call) and callee(n.func) == "F.leaky_relu"]
        assert calls and float(ast.literal_eval(calls[0].args[1])) == float(value)


# ---- file names ----------------------------------------------------------------------

@pytest.mark.parametrize("path", ["evil\nimport os\nos.system('echo pwned')\n#.gen", "evil\u2028print(1)\u2028#.gen",
                                  'a"""b.gen', 'a"+__import__("os").system("echo pwned")+"b.gen',
                                  "a\\N{b.gen", "a\\b.gen", "é😀.gen", "\r\x0b\x0c\x1c\x1d\x1e\x85.gen",
                                  "../../x.gen"])
def test_hostile_paths_stay_in_comments(path):
    """Regression: a newline (or U+2028, which str.splitlines honours) in the spec's path broke
    out of the `# Code generated from ...` comment into code, and a `"` out of the string
    literal train.py's argparse description puts it in (running code when train.py runs)."""
    result = compile_source(SourceFile(path, fill()))
    assert result.ok
    assert not audit(result.files)
    same_structure(result.files, compile_source(SourceFile("benign.gen", fill())).files)
    for name, code in result.files.items():
        if name.endswith(".py"):
            tree = ast.parse(code)
            assert not [n for n in tree.body if isinstance(n, ast.Expr) and not isinstance(n.value, ast.Constant)]
            assert "pwned" not in code or "pwned" in code.splitlines()[0]
    assert code.splitlines()  # something was generated
    header = result.files["model.py"].splitlines()[0]
    assert header.startswith("# Code generated by gendsl from ")
    load(result.files["model.py"])


# ---- the audit itself ----------------------------------------------------------------

def test_specs_pass_the_audit():
    specs = sorted((ROOT / "specs").glob("*.gen"))
    assert specs
    for path in specs:
        result = compile_source(SourceFile(path.name, path.read_text(encoding="utf-8"), origin=str(path)))
        assert result.ok, path.name  # a variant finds its bases next to it
        assert not audit(result.files), path.name


@pytest.mark.parametrize("inject", [
    "import os\n", "import subprocess\n", "from os import system\n", "print('hi')\n", "x = eval('1')\n",
    "class Bad(nn.Module):\n    def forward(self, x):\n        return getattr(x, 'relu')()\n",
    "def helper(x):\n    return x.__class__.__bases__\n",
    "def helper(x):\n    return torch.load(x)\n",
    "def helper(x):\n    return F.relu(x).numpy()\n",
    "class Bad(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.a = nn.Linear(1, 1)\n"
    "    def forward(self, x):\n        return self.b(x)\n",
])
def test_audit_catches_injected_code(inject):
    result = compile_source(SourceFile("vae.gen", (ROOT / "specs" / "vae.gen").read_text(encoding="utf-8")))
    files = dict(result.files)
    files["model.py"] += "\n" + inject
    assert audit(files)


def test_audit_catches_edited_runtime_copies():
    result = compile_source(SourceFile("vae.gen", (ROOT / "specs" / "vae.gen").read_text(encoding="utf-8")))
    copies = [n for n in result.files if (RUNTIME / n).exists()]
    if not copies:
        pytest.skip("no runtime files are emitted yet")
    files = dict(result.files)
    files[copies[0]] += "\nimport subprocess\nsubprocess.run(['true'])\n"
    assert audit(files)
