"""Emit: print a plan (gendsl/lower/) as the files of generated/<model>/, and the shared runtime.

Templates loop over plan objects and decide nothing beyond whether a part is present.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from gendsl.check.result import CheckedModel
from gendsl.emit.text import (align, comment, commented, docstring, keywords, pystr, signature, spec_comment, tick,
                              unpack, wrap)
from gendsl.lower import lower

TEMPLATES = Path(__file__).with_name("templates")
RUNTIME = Path(__file__).parent.parent / "runtime"
RUNTIME_PACKAGE = "gendsl_runtime"  # written once per output folder, beside the models' folders
RUNTIME_FILES = ("__init__.py", "apps.py", "data.py", "digit_quality.py", "distributed.py", "export.py",
                 "image_metrics.py", "loop.py", "metrics.py", "outputs.py", "report.py")


@lru_cache(maxsize=1)
def _env():
    import jinja2  # here, not at the top: `gendsl check` never renders a template

    from gendsl.cache import cache_dir, template_cache

    folder = cache_dir()  # compiled templates (train.py.j2 alone takes 30 ms to compile); see gendsl/cache.py
    bytecode = template_cache(folder) if folder else None
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), trim_blocks=True,
                             bytecode_cache=bytecode, lstrip_blocks=True, keep_trailing_newline=True,
                             autoescape=False, undefined=jinja2.StrictUndefined)
    env.filters.update(align=align, unpack=unpack, pystr=pystr, keywords=keywords, tick=tick, wrap=wrap,
                       commented=commented, docstring=docstring, signature=signature, comment=comment,
                       spec_comment=spec_comment)
    return env


def tidy(text: str) -> str:
    """Collapse runs of blank lines to at most two and end with one newline."""
    out, blank = [], 0
    for line in text.splitlines():
        line = line.rstrip()
        blank = blank + 1 if not line else 0
        if blank <= 2:
            out.append(line)
    while out and not out[-1]:
        out.pop()
    return "\n".join(out) + "\n"


def emit(model: CheckedModel, provenance: tuple[str, ...] = ()) -> dict[str, str]:
    """Path relative to the model's folder -> contents: model.py, train.py, apps.py, and the shared
    runtime as `../gendsl_runtime/*.py` (the same bytes for every model, so one copy per output folder).
    `provenance`: header lines the driver gives (every source file of a variant with its sha256, and the
    `--set` values), written under the first lines of the model's own files (not the runtime's)."""
    plan = lower(model)
    files = {"model.py": tidy(_env().get_template("model.py.j2").render(m=plan.model)),
             "train.py": tidy(_env().get_template("train.py.j2").render(t=plan.train))}
    if plan.apps is not None:  # models with an encoder and a reconstruction
        files["apps.py"] = tidy(_env().get_template("apps.py.j2").render(a=plan.apps))
    if provenance:
        files = {name: _with_provenance(text, provenance) for name, text in files.items()}
    for name, text in runtime_files().items():
        files[f"../{RUNTIME_PACKAGE}/{name}"] = text
    return files


def _with_provenance(text: str, lines: tuple[str, ...]) -> str:
    head = text.split("\n", 2)
    at = 2 if head[1].startswith("# source sha256:") else 1
    return "\n".join(head[:at] + [f"# {spec_comment(line)}" for line in lines] + ["\n".join(head[at:])])


@lru_cache(maxsize=None)
def runtime_files() -> dict[str, str]:
    """The files of gendsl_runtime/, byte for byte those of gendsl/runtime/."""
    return {name: (RUNTIME / name).read_text(encoding="utf-8") for name in RUNTIME_FILES}
