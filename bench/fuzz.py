"""Mutation fuzzing of the compiler.

Every input, however broken, must end in one of two ways: the spec compiles (and every
generated `.py` file is valid Python), or the compiler returns diagnostics, each with a
location inside the file (or none, for whole-file problems such as an unreadable file).
An exception escaping `compile_source`/`compile_path` or the diagnostic renderer, a
diagnostic pointing outside the file, or a case running past the time limit is an
internal error.

Cases are the specs in specs/ mutated at the token, line or byte level (a few mutations
each), plus hand-made extremes (deep nesting, long chains, huge numbers, a 10 MB file).

    python -m bench.fuzz --cases 10000           # or: python bench/fuzz.py --cases 10000
    python -m bench.fuzz --cases 500 --seed 7 --save /tmp/crashes

The test suite (tests/check/test_fuzz.py) runs a few hundred cases through the same functions.
"""

from __future__ import annotations

import argparse
import ast
import os
import platform
import random
import re
import signal
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `python bench/fuzz.py` from anywhere
    sys.path.insert(0, str(ROOT))

from gendsl.driver import compile_path, compile_source  # noqa: E402
from gendsl.source import SourceFile  # noqa: E402

SPECS = ROOT / "specs"

# One token of .gen text (close enough for mutation): strings, comments, numbers, names,
# two-character operators, whitespace runs, any other single character.
TOKEN = re.compile(r'"(?:[^"\\\n]|\\.)*"|#[^\n]*|(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|[^\W\d]\w*'
                   r'|->|\*\*|//|\s+|.', re.S)
WORDS = """model extends import param data latent schedule encoder decoder generator discriminator critic
network forward loss train optimizer prior normal uniform image vector label tensor in from true false
linear conv2d conv_transpose2d subpixel pixel_shuffle upsample maxpool avgpool adaptive_avgpool batchnorm
layernorm dropout relu leaky_relu elu selu gelu silu tanh sigmoid softplus prelu identity flatten reshape
unflatten topk embedding onehot concat add mse l1 bce bce_logits cross_entropy kl l1_activity kl_sparsity
contractive perceptual gan minimax non_saturating max_likelihood least_squares wasserstein wasserstein_gp
adam sgd rmsprop adamw linear cosine step exponential constant cyclical epochs steps batch_size d_steps
n_critic seed init dcgan xavier kaiming lr betas momentum reduction sum mean stride padding kernel
output_padding dilation groups bias scale mode bilinear nearest gp clip rho std p k dims num dim
gaussian_noise masking_noise salt_and_pepper x y z h mu logvar fake netG netD enc dec self torch nn F
__init__ class def lambda None True import os exec eval __import__ nan inf""".split()
PUNCT = ["(", ")", "[", "]", "{", "}", ",", ":", "=", "~", "->", "+", "-", "*", "/", "//", "%", "**", ".",
         '"', "'", "\\", "#", "\n", ";", "@", "$", "`", "!", "?", "<", ">", "|", "&", "^"]
NUMBERS = ["0", "1", "-1", "0.0", "-0.0", "0.5", "2.5", "3", "7", "1e999", "-1e999", "1e-320", "1e308 * 10",
           "10**10**10", "2**53", "2**53 + 1", "2**64", "10**12", "9" * 5000, "0**-1", "(-8)**0.5", "1/0",
           "1 // 0", "5 % 0", ".5", "1.", "1e5", "00", "007", "nan", "inf", "-(-(-1))", "256**256"]
STRINGS = ['"mnist5k"', '""', '"\\""', '"\\\\"', '"a\\nb"', '"../../etc/passwd"', '"\'; import os #"',
           '"""', '"\\u0000"', '"x" "y"']
ODD_CHARS = ["\t", "\r", "\r\n", "\x00", "\x0b", "\x0c", "\x1b", "\x7f", "\x85", "\u00a0", "\u2028", "\u2029",
             "\ufeff", "\u200b", "\u202e", "а", "ｘ", "é", "ß", "∞", "😀", "\U0010ffff", "İ", "ǅ", "ℌ", "١"]
LOOKALIKES = {"a": "а", "e": "е", "o": "о", "p": "р", "c": "с", "x": "х", "y": "у", "i": "і",
              "l": "ⅼ", "n": "ｎ", "r": "ｒ", "s": "ѕ", "d": "ԁ"}


def seeds() -> dict[str, str]:
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(SPECS.glob("*.gen"))}


def tokens(text: str) -> list[str]:
    return TOKEN.findall(text)


def _word_tokens(toks: list[str]) -> list[int]:
    return [i for i, t in enumerate(toks) if t and not t.isspace()]


# ---- text mutators: (text, rng) -> text ----------------------------------------------

def delete_token(text, rng):
    toks = tokens(text)
    idx = _word_tokens(toks)
    if idx:
        del toks[rng.choice(idx)]
    return "".join(toks)


def duplicate_token(text, rng):
    toks = tokens(text)
    idx = _word_tokens(toks)
    if idx:
        i = rng.choice(idx)
        toks.insert(i, toks[i] + rng.choice(["", " "]))
    return "".join(toks)


def swap_tokens(text, rng):
    toks = tokens(text)
    idx = _word_tokens(toks)
    if len(idx) >= 2:
        i, j = rng.sample(idx, 2)
        if rng.random() < 0.5:  # neighbours are the interesting swaps
            k = idx.index(i)
            j = idx[min(k + 1, len(idx) - 1)]
        toks[i], toks[j] = toks[j], toks[i]
    return "".join(toks)


def replace_token(text, rng):
    toks = tokens(text)
    idx = _word_tokens(toks)
    if idx:
        i = rng.choice(idx)
        pool = rng.choice([WORDS, PUNCT, NUMBERS, STRINGS, [toks[j] for j in idx]])
        toks[i] = rng.choice(pool)
    return "".join(toks)


def insert_token(text, rng):
    toks = tokens(text)
    i = rng.randrange(len(toks) + 1)
    pool = rng.choice([WORDS, PUNCT, NUMBERS, STRINGS])
    toks.insert(i, rng.choice(["", " "]) + rng.choice(pool) + rng.choice(["", " "]))
    return "".join(toks)


def replace_number(text, rng):
    toks = tokens(text)
    idx = [i for i, t in enumerate(toks) if t[:1].isdigit()]
    if idx:
        toks[rng.choice(idx)] = rng.choice(NUMBERS)
    return "".join(toks)


def typo(text, rng):
    toks = tokens(text)
    idx = [i for i, t in enumerate(toks) if t[:1].isalpha() and len(t) > 1]
    if idx:
        i = rng.choice(idx)
        w = list(toks[i])
        k = rng.randrange(len(w))
        how = rng.randrange(4)
        if how == 0:
            del w[k]
        elif how == 1 and k + 1 < len(w):
            w[k], w[k + 1] = w[k + 1], w[k]
        elif how == 2:
            w.insert(k, rng.choice("abcdefghijklmnopqrstuvwxyz_0123456789"))
        else:
            w[k] = w[k].upper() if w[k].islower() else w[k].lower()
        toks[i] = "".join(w)
    return "".join(toks)


def lookalike(text, rng):
    toks = tokens(text)
    idx = [i for i, t in enumerate(toks) if t[:1].isalpha() and any(c in LOOKALIKES for c in t)]
    if idx:
        i = rng.choice(idx)
        w = toks[i]
        ks = [k for k, c in enumerate(w) if c in LOOKALIKES]
        k = rng.choice(ks)
        toks[i] = w[:k] + LOOKALIKES[w[k]] + w[k + 1:]
    return "".join(toks)


def insert_chars(text, rng):
    i = rng.randrange(len(text) + 1)
    n = rng.randint(1, 4)
    if rng.random() < 0.5:
        chunk = "".join(rng.choice(ODD_CHARS) for _ in range(n))
    else:  # any code point but a surrogate (which no decoded file can hold)
        chunk = "".join(chr(rng.choice([rng.randrange(0x80), rng.randrange(0xD800), rng.randrange(0xE000, 0x110000)]))
                        for _ in range(n))
    return text[:i] + chunk + text[i:]


def truncate(text, rng):
    return text[:rng.randrange(len(text) + 1)]


def delete_line(text, rng):
    lines = text.split("\n")
    del lines[rng.randrange(len(lines))]
    return "\n".join(lines)


def duplicate_line(text, rng):
    lines = text.split("\n")
    i = rng.randrange(len(lines))
    lines.insert(rng.randrange(len(lines) + 1), lines[i])
    return "\n".join(lines)


def swap_lines(text, rng):
    lines = text.split("\n")
    if len(lines) >= 2:
        i, j = rng.sample(range(len(lines)), 2)
        lines[i], lines[j] = lines[j], lines[i]
    return "\n".join(lines)


def splice(text, rng, corpus=None):
    other = rng.choice(corpus) if corpus else text
    a = rng.randrange(len(other) + 1)
    b = min(len(other), a + rng.randint(1, 200))
    i = rng.randrange(len(text) + 1)
    return text[:i] + other[a:b] + text[i:]


def nest(text, rng):
    """Wrap a number in deep parentheses, a tuple or list tower, or a long operator chain."""
    toks = tokens(text)
    idx = [i for i, t in enumerate(toks) if t[:1].isdigit()]
    if not idx:
        return text
    i = rng.choice(idx)
    n = rng.choice([50, 99, 100, 101, 200, 1000, 10_000])
    t = toks[i]
    form = rng.randrange(7)
    if form == 0:
        toks[i] = "(" * n + t + ")" * n
    elif form == 1:
        toks[i] = "(" * n + t + ",)" * n
    elif form == 2:
        toks[i] = "[" * n + t + "]" * n
    elif form == 3:
        toks[i] = " + ".join([t] * n)
    elif form == 4:
        toks[i] = "-" * n + t
    elif form == 5:
        toks[i] = " ** ".join([t] * n)
    else:
        toks[i] = "f(" * n + t + ")" * n
    return "".join(toks)


TEXT_MUTATORS = [delete_token, duplicate_token, swap_tokens, replace_token, insert_token, replace_number, typo,
                 lookalike, insert_chars, truncate, delete_line, duplicate_line, swap_lines, splice, nest]
# weights: structure-preserving mutations dominate so that many cases get past the parser
WEIGHTS = [6, 4, 4, 8, 6, 8, 8, 3, 3, 2, 3, 3, 3, 2, 2]


# ---- byte mutators: bytes -> bytes (the case goes through a file on disk) ---------------

def byte_mutate(data: bytes, rng) -> bytes:
    b = bytearray(data)
    how = rng.randrange(5)
    if how == 0:  # random bytes
        i = rng.randrange(len(b) + 1)
        b[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
    elif how == 1 and b:  # flip a bit
        i = rng.randrange(len(b))
        b[i] ^= 1 << rng.randrange(8)
    elif how == 2:  # a lone continuation byte, an overlong form, a surrogate or a truncated sequence
        i = rng.randrange(len(b) + 1)
        b[i:i] = rng.choice([b"\x80", b"\xc0\xaf", b"\xed\xa0\x80", b"\xe2\x82", b"\xff", b"\xf4\x90\x80\x80"])
    elif how == 3:  # a UTF-8 BOM, or UTF-16
        return rng.choice([b"\xef\xbb\xbf" + bytes(b), bytes(b).decode("utf-8", "replace").encode("utf-16")])
    else:  # cut inside a multi-byte character
        text = bytes(b) + "é😀".encode()
        return text[:-1]
    return bytes(b)


# ---- special cases -----------------------------------------------------------------

def special_cases(base: str) -> list[tuple[str, str | bytes]]:
    """Hand-made extremes, each derived from one seed spec (`base` must declare `param`s or numbers)."""
    n = 10_000
    param = "param hidden = "
    cases = [
        ("parens 10k", param + "(" * n + "400" + ")" * n),
        ("tuple 10k", param + "(" * n + "400" + ",)" * n),
        ("list 10k", param + "[" * n + "]" * n),
        ("sum chain 10k", param + " + ".join(["1"] * n)),
        ("product chain 10k", param + " * ".join(["1"] * n)),
        ("power chain 10k", param + " ** ".join(["1"] * n)),
        ("unary chain 10k", param + "-" * n + "1"),
        ("call chain 10k", "loss = " + "kl(" * n + "z" + ")" * n),
        ("unclosed 10k", param + "(" * n + "400"),
        ("braces 10k", "{" * n),
        ("1e999", param + "1e999"),
        ("10**10**10", param + "10**10**10"),
        ("5000 digits", param + "9" * 5000),
        ("100k digits", param + "7" * 100_000),
        ("2**53+1", param + "2**53 + 1"),
        ("huge layer", "network big(x) -> [1] { flatten -> linear(10**12) -> linear(1) }"),
        ("huge layer 2", "network big(x) -> [1000000000000] { flatten -> linear(1000000000000) }"),
        ("long line", "# " + "x" * 500_000),
        ("many statements", "network many(x) -> [4] { flatten " + "-> relu " * 5_000 + "-> linear(4) }"),
    ]
    out = []
    for name, extra in cases:
        if extra.startswith(param):
            text = re.sub(r"param (\w+) = [^\n]*", lambda m: m.group(0).split("=")[0] + "=" + extra[len(param):],
                          base, count=1) if "param " in base else base + "\n" + extra + "\n"
        else:
            text = base + "\n" + extra + "\n"
        out.append((name, text))
    out.append(("10 MB file", (base + "# filler\n" * 1_250_000).encode()))
    out.append(("invalid UTF-8", base.encode() + b"\n# \xff\xfe\n"))
    out.append(("NUL byte", base.encode().replace(b"model", b"mo\x00del", 1)))
    out.append(("empty", ""))
    out.append(("only whitespace", " \n\t\r\n"))
    out.append(("CRLF", base.replace("\n", "\r\n")))
    out.append(("BOM", b"\xef\xbb\xbf" + base.encode()))
    return out


# ---- running one case --------------------------------------------------------------

@dataclass
class Outcome:
    kind: str  # ok | diagnostics | internal | bad_span | bad_output | hang
    detail: str = ""
    seconds: float = 0.0


class _Timeout(BaseException):
    """Raised by the alarm; a BaseException so that `except Exception` in the compiler cannot eat it."""


def _alarm(signum, frame):
    raise _Timeout()


def _check_result(result) -> Outcome:
    from gendsl.render import render

    text = result.source.text
    for d in result.diagnostics:
        span = d.span
        if span is not None and not (0 <= span.start <= span.end <= max(len(text), span.start + 1)
                                     and span.start <= len(text)):
            return Outcome("bad_span", f"{d.code} {d.message!r} at {span} (file has {len(text)} characters)")
        render(d, result.source)  # the CLI prints every diagnostic: rendering must not fail either
    if result.ok:
        if not result.files:
            return Outcome("bad_output", "no errors but no files")
        for name, code in result.files.items():
            if name.endswith(".py"):
                try:
                    ast.parse(code, filename=name)
                except SyntaxError as exc:
                    return Outcome("bad_output", f"{name} is not valid Python: {exc}")
        return Outcome("ok")
    if not any(d.is_error for d in result.diagnostics):
        return Outcome("bad_output", "not ok, yet no error diagnostic")
    return Outcome("diagnostics")


def run_case(data: str | bytes, timeout: float = 20.0, tmpdir: str | None = None) -> Outcome:
    """Compile one input (bytes go through a file on disk) and classify what happened."""
    use_alarm = timeout and hasattr(signal, "setitimer") and os.name == "posix"
    old = signal.signal(signal.SIGALRM, _alarm) if use_alarm else None
    start = time.perf_counter()
    try:
        if use_alarm:
            signal.setitimer(signal.ITIMER_REAL, timeout)
        if isinstance(data, bytes):
            with tempfile.NamedTemporaryFile("wb", suffix=".gen", dir=tmpdir, delete=False) as f:
                f.write(data)
            try:
                result = compile_path(f.name)
            finally:
                os.unlink(f.name)
        else:
            result = compile_source(SourceFile("fuzz.gen", data))
        outcome = _check_result(result)
    except _Timeout:
        outcome = Outcome("hang", f"still running after {timeout:g} s")
    except BaseException as exc:  # noqa: BLE001 - that is what we are looking for
        if isinstance(exc, KeyboardInterrupt):
            raise
        tb = traceback.extract_tb(exc.__traceback__)
        where = next((f"{Path(fr.filename).name}:{fr.lineno}" for fr in reversed(tb) if "gendsl" in fr.filename), "?")
        outcome = Outcome("internal", f"{type(exc).__name__}: {str(exc)[:200]} (at {where})")
    finally:
        if use_alarm:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)
    outcome.seconds = time.perf_counter() - start
    return outcome


def make_case(rng: random.Random, corpus: dict[str, str]) -> tuple[str, str | bytes]:
    """One mutated spec: a seed, 1-4 text mutations, sometimes a byte mutation on top."""
    name = rng.choice(sorted(corpus))
    text = corpus[name]
    applied = []
    for _ in range(rng.choice([1, 1, 1, 2, 2, 3, 4])):
        mutator = rng.choices(TEXT_MUTATORS, WEIGHTS)[0]
        text = mutator(text, rng, list(corpus.values())) if mutator is splice else mutator(text, rng)
        applied.append(mutator.__name__)
    if rng.random() < 0.1:
        applied.append("byte_mutate")
        return f"{name}: {'+'.join(applied)}", byte_mutate(text.encode("utf-8", "surrogatepass"), rng)
    return f"{name}: {'+'.join(applied)}", text


IMPORTANT = ("internal", "bad_span", "bad_output", "hang")


@dataclass
class Report:
    counts: dict[str, int] = field(default_factory=dict)
    failures: list[tuple[str, Outcome, str | bytes]] = field(default_factory=list)
    seconds: float = 0.0
    slowest: tuple[float, str] = (0.0, "")

    @property
    def cases(self) -> int:
        return sum(self.counts.values())

    @property
    def internal_errors(self) -> int:
        return sum(self.counts.get(k, 0) for k in IMPORTANT)


def fuzz(cases: int, seed: int = 0, specials: bool = True, timeout: float = 20.0,
         progress=None) -> Report:
    corpus = seeds()
    rng = random.Random(seed)
    report = Report()
    todo: list[tuple[str, str | bytes]] = []
    if specials:
        todo += [(f"special {n}", d) for n, d in special_cases(corpus.get("vae.gen") or next(iter(corpus.values())))]
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(cases):
            label, data = todo[i] if i < len(todo) else make_case(rng, corpus)
            outcome = run_case(data, timeout, tmp)
            report.counts[outcome.kind] = report.counts.get(outcome.kind, 0) + 1
            if outcome.kind in IMPORTANT:
                report.failures.append((label, outcome, data))
            if outcome.seconds > report.slowest[0]:
                report.slowest = (outcome.seconds, label)
            if progress:
                progress(i + 1, report)
    report.seconds = time.perf_counter() - start
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.fuzz", description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=1000, help="number of cases (default 1000)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--timeout", type=float, default=20.0, help="seconds before a case counts as a hang")
    parser.add_argument("--no-specials", action="store_true", help="mutations only, no hand-made extremes")
    parser.add_argument("--save", metavar="DIR", help="write each failing input to DIR")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress line")
    args = parser.parse_args(argv)

    def progress(done, report):
        if not args.quiet and (done % 500 == 0 or done == args.cases):
            print(f"  {done}/{args.cases} cases, {report.internal_errors} internal errors", file=sys.stderr)

    report = fuzz(args.cases, args.seed, not args.no_specials, args.timeout, progress)
    rate = report.cases / report.seconds if report.seconds else 0.0
    print(f"gendsl fuzz: {report.cases} cases (seed {args.seed}) in {report.seconds:.1f} s, {rate:.0f} cases/s "
          f"on {platform.python_implementation()} {platform.python_version()}, {platform.machine()}, "
          f"{os.cpu_count()} CPUs")
    print("  outcomes: " + ", ".join(f"{k} {v}" for k, v in sorted(report.counts.items())))
    print(f"  internal errors: {report.internal_errors} ({100 * report.internal_errors / max(1, report.cases):.2f}%)")
    print(f"  slowest case: {report.slowest[0]:.2f} s ({report.slowest[1]})")
    for k, (label, outcome, data) in enumerate(report.failures[:20]):
        print(f"  - {outcome.kind}: {label}: {outcome.detail}")
        if args.save:
            folder = Path(args.save)
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"case{k:03d}.gen"
            path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8", "surrogatepass"))
    return 1 if report.internal_errors else 0


if __name__ == "__main__":
    sys.exit(main())
