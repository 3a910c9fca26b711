"""Regression tests for checker bugs found while writing the specs/ catalogue."""

from __future__ import annotations

import textwrap

from gendsl.driver import compile_source
from gendsl.source import SourceFile

CONCAT_MID_CHAIN = """
model concat_chain
data x: image[1, 28, 28] in [0, 1]
data y: label[10]
latent z: [8] ~ normal(0, 1)

encoder enc(x, y) -> (mu: [8], logvar: [8]) {
    c = y -> onehot
    h = x -> flatten -> concat(c) -> linear(32) -> relu
    mu = h -> linear(8)
    logvar = h -> linear(8)
}

decoder dec(z, y) -> [1, 28, 28] {
    c = y -> onehot
    z -> linear(16) -> concat(c) -> linear(784) -> sigmoid
    reshape(1, 28, 28)
}

forward {
    mu, logvar = enc(x, y)
    z ~ normal(mu, logvar)
    x_hat = dec(z, y)
}

loss = bce(x_hat, x) + kl(z)
"""


def _compile(text: str):
    return compile_source(SourceFile("case.gen", textwrap.dedent(text)))


def _errors(result) -> list[str]:
    return [f"{d.code}: {d.message}" for d in result.diagnostics if d.is_error]


def test_concat_after_other_layers_in_a_chain():
    # `x -> flatten -> concat(c)` used to look up the statement's own (not yet computed) type
    # and give up silently, so `mu` ended up with no type and `forward` reported "`mu` is None".
    result = _compile(CONCAT_MID_CHAIN)
    assert _errors(result) == []
    enc = result.model.network("enc")
    concat = next(layer for layer in enc.layers if layer.op == "concat")
    assert concat.in_types[0].shape == (784,) and concat.out.shape == (794,)
    assert concat.inputs == ["h", "c"]
    dec = result.model.network("dec")
    concat = next(layer for layer in dec.layers if layer.op == "concat")
    assert concat.out.shape == (26,)
    assert "torch.cat([h, c], dim=1)" in result.files["model.py"]


def test_concat_mid_chain_still_reports_bad_shapes():
    bad = CONCAT_MID_CHAIN.replace("h = x -> flatten -> concat(c)", "h = x -> concat(c)")
    result = _compile(bad)
    assert any("cannot concatenate (1, 28, 28) and (10,)" in e for e in _errors(result)), _errors(result)


TAP_OUTPUT = """
model tap_output
data x: image[1, 28, 28] in [0, 1]

encoder enc(x) -> [32] {
    code = flatten -> linear(32) -> relu
}

decoder dec(c: [32]) -> [1, 28, 28] {
    linear(784) -> sigmoid -> reshape(1, 28, 28)
}

forward {
    c = enc(x)
    x_hat = dec(c)
}

loss = bce(x_hat, x) + 1e-4 * l1_activity(enc.code)
"""


def test_tapping_a_networks_output_reads_the_forward_value():
    # `enc.code` where `code` is enc's output used to make enc return `code, code`.
    result = _compile(TAP_OUTPUT)
    assert _errors(result) == []
    model = result.model
    assert model.network("enc").taps == []
    term = next(t for t in model.terms if t.kind == "l1_activity")
    assert term.args == ["c"]
    assert "return code\n" in result.files["model.py"]


def test_tapping_a_hidden_layer_still_returns_it():
    text = TAP_OUTPUT.replace("code = flatten -> linear(32) -> relu",
                              "hidden = flatten -> linear(64) -> relu\n    linear(32) -> relu")
    text = text.replace("enc.code", "enc.hidden")
    result = _compile(text)
    assert _errors(result) == []
    assert [name for name, _ in result.model.network("enc").taps] == ["hidden"]
    term = next(t for t in result.model.terms if t.kind == "l1_activity")
    assert term.args == ["enc_hidden"]


def test_every_bad_argument_of_a_layer_is_reported():
    """Bad arguments of one layer call are independent mistakes: each gets its diagnostic."""
    text = textwrap.dedent("""
        model m
        data x: image[1, 28, 28] in [0, 1]
        encoder enc(x) -> [10] {
            conv2d(-4, 3, stride=0, padding=-1, foo=2)
            flatten -> linear(10)
        }
        forward { c = enc(x) }
        loss = l1_activity(c)
    """)
    result = compile_source(SourceFile("m.gen", text))
    line = text.splitlines()[4]
    got = [(d.code, line[d.span.start - text.index(line):d.span.end - text.index(line)])
           for d in result.diagnostics if d.is_error]
    assert got == [("E0301", "-4"), ("E0301", "0"), ("E0220", "-1"), ("E0212", "foo")]
