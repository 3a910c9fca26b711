"""Emit: render a CheckedModel to the files of generated/<model>/."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import jinja2

from gendsl.check.result import CheckedModel
from gendsl.emit.model_py import model_view

TEMPLATES = Path(__file__).with_name("templates")


@lru_cache(maxsize=1)
def _env() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), trim_blocks=True,
                              lstrip_blocks=True, keep_trailing_newline=True, autoescape=False,
                              undefined=jinja2.StrictUndefined)


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


def emit(model: CheckedModel) -> dict[str, str]:
    """File name -> contents, for the folder of this model."""
    files = {"model.py": tidy(_env().get_template("model.py.j2").render(**model_view(model)))}
    return files
