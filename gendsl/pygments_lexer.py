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
            (r"\s+", Whitespace),
            (r"#.*?$", Comment.Single),
            (r'"([^"\\\n]|\\.)*"', String.Double),
            # keywords are contextual: `latent` starts a declaration, but may also name a parameter
            (words(V.ROLES + V.DECLARATIONS, prefix=r"^", suffix=r"\b(?!\s*=)"), Keyword.Declaration),
            (r"\bextends\b", Keyword.Declaration),
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
