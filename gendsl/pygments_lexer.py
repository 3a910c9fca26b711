"""A Pygments lexer for .gen files, registered as `gen` through the `pygments.lexers` entry point:
`pygmentize -l gen specs/dcgan.gen`, and ```gen blocks in documentation built with Pygments."""

from __future__ import annotations

from pygments.lexer import RegexLexer, bygroups, words
from pygments.token import Comment, Keyword, Name, Number, Operator, Punctuation, String, Whitespace

from gendsl import vocabulary as V


class GenLexer(RegexLexer):
    name = "gendsl"
    aliases = ["gen", "gendsl"]
    filenames = ["*.gen"]
    mimetypes = ["text/x-gendsl"]
    url = "https://pypi.org/project/gendsl/"

    tokens = {
        "root": [
            # a variant's edits: `override param n = 2`, `remove loss kl`, and (indented) a train block's
            # `override epochs = 5`, `remove seed`; `\s*^` lets them follow the line break
            (r"(\s*^[ \t]*)(override|remove)(\s+)(%s)\b(?!\s*=)" % "|".join(V.ROLES + V.DECLARATIONS),
             bygroups(Whitespace, Keyword.Declaration, Whitespace, Keyword.Declaration)),
            (r"(\s*^[ \t]*)(override|remove)\b(?!\s*=)", bygroups(Whitespace, Keyword.Declaration)),
            (r"\s+", Whitespace),
            (r"#.*?$", Comment.Single),
            (r'"([^"\\\n]|\\.)*"', String.Double),
            # keywords are contextual: `latent` starts a declaration, but may also name a parameter
            (r"^(insert)(\s+)(after|before)\b", bygroups(Keyword.Declaration, Whitespace, Keyword)),
            (words(V.ROLES + V.DECLARATIONS, prefix=r"^", suffix=r"\b(?!\s*=)"), Keyword.Declaration),
            (r"\bextends\b", Keyword.Declaration),
            # `from "lib.gen" import A, B` and `import "lib.gen" as lib`
            (r"\bimport\b(?=\s+[^\W\d])|\bas\b(?=\s+[^\W\d]\w*\s*(?:#|$))", Keyword),
            (r"\bin\b(?=\s*\[)|\bfrom\b(?=\s*\")", Keyword),
            (words(V.CONSTANTS, suffix=r"\b"), Keyword.Constant),
            (words(V.kinds(), suffix=r"(?=\s*\[)"), Keyword.Type),
            (r"(\.)([^\W\d]\w*)", bygroups(Punctuation, Name.Attribute)),
            (r"([^\W\d]\w*)(\s*)(=)(?!=)", bygroups(Name.Variable, Whitespace, Operator)),
            (words(V.layers(), suffix=r"\b"), Name.Builtin),
            (words(V.functions(), suffix=r"\b"), Name.Function),
            (r"[^\W\d]\w*", Name),
            (r"(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?", Number),
            (r"->|\*\*|//|[~=+\-*/%]", Operator),
            (r"[()\[\]{},:]", Punctuation),
        ],
    }
