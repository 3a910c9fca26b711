"""The grammar (gen.lark) and the LALR parsers built from it, with their cache.

Building the LALR tables takes about 50 ms; lark stores them in gendsl's cache folder (see
gendsl/cache.py), and loading them takes 5.
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path

import lark

from gendsl.cache import cache_dir

GRAMMAR = Path(__file__).with_name("gen.lark")
TOP_KEYWORDS = ("model", "import", "param", "data", "latent", "schedule", "encoder", "decoder",
                "generator", "discriminator", "critic", "network", "forward", "loss", "train",
                "override", "remove", "insert", "from")
# `from` also ends a data declaration (`from "mnist5k"`), which may start a line: never cut there
ITEM_START = re.compile(r"^(?:%s)\b" % "|".join(k for k in TOP_KEYWORDS if k != "from"), re.M)
MAX_SYNTAX_ERRORS = 20
# Levels of the syntax tree (a network statement sits about six deep; `a + b` adds one).
# Building the IR and checking it recurse once per level, so a deeper tree would end in
# RecursionError; real specs stay below 20.
MAX_NESTING = 100
LONG_INT = 1000  # digits; longer integer literals are out of range anyway


@lru_cache(maxsize=1)
def lalr_parser() -> lark.Lark:
    return lark.Lark(GRAMMAR.read_text(), parser="lalr", lexer="contextual", start=["start", "expr"],
                     propagate_positions=True, maybe_placeholders=True, cache=_cache_file())


def _cache_file() -> str | bool:
    """Where lark keeps the LALR tables it builds from the grammar (about 50 ms of every run; loading
    them takes 5), or False for no cache. See gendsl/cache.py."""
    folder = cache_dir()
    return os.path.join(folder, f"grammar-lark{lark.__version__}.cache") if folder else False


@lru_cache(maxsize=1)
def basic_parser() -> lark.Lark:
    """A parser with a context-free lexer: only used to name the token at a lexing error."""
    return lark.Lark(GRAMMAR.read_text(), parser="lalr", lexer="basic", cache=False)
