"""`gendsl lsp`, driven over stdio with real JSON-RPC messages, as an editor does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.metadata import distribution, requires
from pathlib import Path

import pytest

pytest.importorskip("pygls")

from packaging.requirements import Requirement  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
URI = "file:///work/specs/model.gen"

GOOD = """model vae
param latent = 20
data x: image[1, 28, 28] in [0, 1]
latent z: [latent] ~ normal(0, 1)

encoder enc(x) -> (mu: [latent], logvar: [latent]) {
    h = flatten -> linear(400) -> relu
    mu = h -> linear(latent)
    logvar = h -> linear(latent)
}

decoder dec(z) -> [1, 28, 28] {
    linear(784) -> sigmoid -> reshape(1, 28, 28)
}

forward {
    mu, logvar = enc(x)
    z ~ normal(mu, logvar)
    x_hat = dec(z)
}

loss = bce(x_hat, x, reduction=sum) + kl(z)
"""
BROKEN = GOOD.replace("decoder enc(z)", "decoder dec(z)").replace("decoder dec(z)", "decoder enc(z)")


class Client:
    def __init__(self):
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        self.proc = subprocess.Popen([sys.executable, "-m", "gendsl", "lsp"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        self.next_id = 0
        self.notifications: list[dict] = []

    def send(self, message: dict) -> None:
        body = json.dumps({"jsonrpc": "2.0", **message}).encode()
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.proc.stdin.flush()

    def read(self) -> dict:
        length = None
        while True:
            line = self.proc.stdout.readline()
            assert line, "the server closed its output: " + self.proc.stderr.read().decode(errors="replace")
            if line in (b"\r\n", b"\n"):
                break
            key, _, value = line.decode().partition(":")
            if key.lower() == "content-length":
                length = int(value)
        return json.loads(self.proc.stdout.read(length))

    def request(self, method: str, params: dict) -> dict:
        self.next_id += 1
        self.send({"id": self.next_id, "method": method, "params": params})
        while True:
            message = self.read()
            if message.get("id") == self.next_id and "method" not in message:
                assert "error" not in message, message["error"]
                return message["result"]
            self.notifications.append(message)

    def notify(self, method: str, params: dict) -> None:
        self.send({"method": method, "params": params})

    def diagnostics(self) -> list[dict]:
        """The next publishDiagnostics notification."""
        while True:
            message = self.notifications.pop(0) if self.notifications else self.read()
            if message.get("method") == "textDocument/publishDiagnostics":
                return message["params"]["diagnostics"]


@pytest.fixture
def client():
    c = Client()
    result = c.request("initialize", {"processId": os.getpid(), "rootUri": None, "capabilities": {}})
    caps = result["capabilities"]
    assert caps["hoverProvider"] and caps["definitionProvider"] and caps["completionProvider"]
    c.notify("initialized", {})
    yield c
    c.request("shutdown", None)
    c.notify("exit", None)
    assert c.proc.wait(timeout=20) == 0


def at(text: str, needle: str, shift: int = 0) -> dict:
    offset = text.index(needle) + shift
    line = text.count("\n", 0, offset)
    return {"line": line, "character": offset - (text.rfind("\n", 0, offset) + 1)}


def open_doc(client: Client, text: str) -> list[dict]:
    client.notify("textDocument/didOpen", {"textDocument": {"uri": URI, "languageId": "gendsl", "version": 1,
                                                            "text": text}})
    return client.diagnostics()


def test_diagnostics_on_open_and_change_with_related_locations(client):
    diagnostics = open_doc(client, BROKEN)
    first = diagnostics[0]
    assert first["code"] == "E0202" and first["severity"] == 1 and first["source"] == "gendsl"
    assert first["range"]["start"] == at(BROKEN, "enc(z)")
    related = first["relatedInformation"][0]
    assert related["location"]["uri"] == URI
    assert related["location"]["range"]["start"] == at(BROKEN, "enc(x)")
    client.notify("textDocument/didChange", {"textDocument": {"uri": URI, "version": 2},
                                             "contentChanges": [{"text": GOOD}]})
    assert client.diagnostics() == []


def test_hover_shows_shape_and_parameter_count(client):
    open_doc(client, GOOD)
    result = client.request("textDocument/hover", {"textDocument": {"uri": URI},
                                                   "position": at(GOOD, "linear(400)", 2)})
    value = result["contents"]["value"]
    assert "(784,) -> (400,)" in value and "parameters: 314,000" in value
    result = client.request("textDocument/hover", {"textDocument": {"uri": URI}, "position": at(GOOD, "dec(z)")})
    assert "decoder `dec`" in result["contents"]["value"] and "parameters: 16,464" in result["contents"]["value"]


def test_go_to_definition(client):
    open_doc(client, GOOD)
    result = client.request("textDocument/definition", {"textDocument": {"uri": URI},
                                                        "position": at(GOOD, "= enc(x)", 3)})
    assert result["uri"] == URI and result["range"]["start"] == at(GOOD, "enc(x) ->")
    result = client.request("textDocument/definition", {"textDocument": {"uri": URI},
                                                        "position": at(GOOD, "h -> linear(latent)")})
    assert result["range"]["start"] == at(GOOD, "h = flatten")


def test_completion_of_layers_and_their_arguments(client):
    text = GOOD.replace("    linear(784) -> sigmoid", "    conv2d(8, 3, )\n    linear(784) -> sigmoid")
    open_doc(client, text)
    inside_body = at(text, "    linear(784)")
    labels = {i["label"] for i in client.request("textDocument/completion",
                                                 {"textDocument": {"uri": URI}, "position": inside_body})["items"]}
    assert {"conv2d", "linear", "batchnorm", "relu"} <= labels
    in_call = at(text, "conv2d(8, 3, ", len("conv2d(8, 3, "))
    items = client.request("textDocument/completion", {"textDocument": {"uri": URI}, "position": in_call})["items"]
    labels = {i["label"] for i in items}
    assert {"stride=", "padding=", "bias="} <= labels and "conv2d" not in labels
    line_start = at(text, "forward {")
    labels = {i["label"] for i in client.request("textDocument/completion",
                                                 {"textDocument": {"uri": URI}, "position": line_start})["items"]}
    assert {"encoder", "generator", "param", "loss", "import", "override", "remove", "insert"} <= labels
    assert "true" not in labels  # the grammar's words only


# ---- variants: a document that imports and extends files on disk --------------------------------

BASE = (ROOT / "tests" / "formats" / "lib" / "conv_base.gen").read_text(encoding="utf-8")
BLOCKS = """\
network Mlp[n, width = 4](h: [n]) -> [n] {
    hid = linear(width) -> relu
    out = linear(n)
}

train quick {
    epochs = 2
}
"""
VARIANT = """\
import "lib/blocks.gen" as blocks
from "lib/blocks.gen" import Mlp
model tiny extends "lib/conv_base.gen"

override param size = 4
network head = blocks.Mlp(n=nz)
network tail = Mlp(n=size)
override D.d3 = conv2d(1, 1)
train extends blocks.quick {}
"""


def open_variant(client: Client, tmp_path: Path, text: str = VARIANT) -> tuple[str, list[dict]]:
    (tmp_path / "lib").mkdir(exist_ok=True)
    (tmp_path / "lib" / "conv_base.gen").write_text(BASE, encoding="utf-8")
    (tmp_path / "lib" / "blocks.gen").write_text(BLOCKS, encoding="utf-8")
    uri = (tmp_path / "tiny.gen").as_uri()
    client.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "gendsl", "version": 1,
                                                            "text": text}})
    return uri, client.diagnostics()


def test_diagnostics_of_a_variant_point_into_its_base(client, tmp_path):
    text = 'model tiny extends "lib/conv_base.gen"\n\noverride param size = 4\nparam nz = 16\n'
    uri, diagnostics = open_variant(client, tmp_path, text)
    base_uri = (tmp_path / "lib" / "conv_base.gen").as_uri()
    again = next(d for d in diagnostics if d["code"] == "E0605")  # here, marked in the base
    assert again["range"]["start"] == at(text, "nz = 16")
    assert [(r["location"]["uri"], r["location"]["range"]["start"]) for r in again["relatedInformation"]] == \
        [(base_uri, at(BASE, "nz = 8"))]
    client.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": 2},
                                             "contentChanges": [{"text": text.replace("param nz = 16\n", "")}]})
    broken = client.diagnostics()
    assert [d["code"] for d in broken] == ["E0303"]  # in the base's critic, because of this file's value
    assert broken[0]["range"]["start"] == at(text, "4\n")
    assert "conv_base.gen:18: conv2d kernel 4 is larger" in broken[0]["message"]
    where = broken[0]["relatedInformation"][0]["location"]
    assert where["uri"] == base_uri and where["range"]["start"] == at(BASE, "4, stride=1, padding=0")


def test_go_to_definition_into_imported_and_extended_files(client, tmp_path):
    uri, diagnostics = open_variant(client, tmp_path)
    assert not [d for d in diagnostics if d["severity"] == 1], diagnostics
    base_uri = (tmp_path / "lib" / "conv_base.gen").as_uri()
    blocks_uri = (tmp_path / "lib" / "blocks.gen").as_uri()

    def definition(needle: str, shift: int = 0) -> tuple[str, dict]:
        result = client.request("textDocument/definition", {"textDocument": {"uri": uri},
                                                            "position": at(VARIANT, needle, shift)})
        return result["uri"], result["range"]["start"]

    start = {"line": 0, "character": 0}
    assert definition('"lib/blocks.gen" as', 3) == (blocks_uri, start)  # an import's path: the file
    assert definition('"lib/conv_base.gen"', 3) == (base_uri, start)  # a base: the file
    assert definition("Mlp(n=nz)") == (blocks_uri, at(BLOCKS, "Mlp["))  # `alias.Name`
    assert definition("Mlp(n=size)") == (blocks_uri, at(BLOCKS, "Mlp["))  # `from ... import Name`
    assert definition("quick {}") == (blocks_uri, at(BLOCKS, "quick"))  # a library's train block
    assert definition("nz)") == (base_uri, at(BASE, "nz = 8"))  # a name the base declares
    assert definition("size = 4") == (base_uri, at(BASE, "size = 16"))  # an override: what it overrides
    assert definition("size)") == (uri, at(VARIANT, "size = 4"))  # a use: the value in force, here
    assert definition("d3 =") == (base_uri, at(BASE, "d3 ="))  # a named statement of the base's network


def test_lsp_dependencies_are_pure_python():
    """The `lsp` extra's dependency closure installs from pure-Python wheels only (no Rust, no C):
    cattrs' orjson extra is not asked for."""
    seen, todo = set(), ["pygls", "lsprotocol"]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        wheel = distribution(name).read_text("WHEEL") or ""
        assert "Root-Is-Purelib: true" in wheel and "-none-any" in wheel, f"{name} is not a pure-Python wheel"
        for req in requires(name) or []:
            r = Requirement(req)
            if r.marker is None or r.marker.evaluate({"extra": ""}):
                todo.append(r.name.lower().replace("_", "-"))
    assert {"pygls", "lsprotocol", "cattrs", "attrs"} <= seen and "orjson" not in seen
