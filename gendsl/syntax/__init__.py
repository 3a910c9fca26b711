"""Syntax: the Lark grammar and the parser that builds the IR."""

from gendsl.syntax.parser import parse

__all__ = ["parse"]
