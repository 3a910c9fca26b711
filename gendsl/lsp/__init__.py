"""`gendsl lsp`: a language server for .gen files (pip install 'gendsl[lsp]').

analysis.py answers the questions (diagnostics, hover, definition, completion) on plain text
and offsets, without pygls; server.py speaks the protocol with pygls.
"""
