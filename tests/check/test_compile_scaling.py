"""The checker's work per statement stays bounded, so compile time grows linearly with a spec.

Each statement used to copy the whole list of shapes its input had gone through (for the
`shapes: ...` note of a later error): O(n^2) in the length of a chain. Only what the note shows
is kept now. No timings here: bench/scaling.py measures them (`python -m bench --only scaling`).
"""

from gendsl.check import network
from gendsl.driver import compile_source
from gendsl.source import SourceFile


def chain_spec(pairs: int, tail: str = "") -> str:
    body = "\n".join("    linear(64) -> relu" for _ in range(pairs))
    return f"""model deep
data x: vector[64] from "gaussian"
network net(x) -> [64] {{
{body}
{tail}
}}
forward {{
    y = net(x)
}}
loss = mse(y, x)
train {{
    optimizer = adam(lr=1e-3)
}}
"""


def test_shape_history_is_bounded(monkeypatch):
    longest = []
    original = network.NetworkChecker.run

    def run(self):
        result = original(self)
        longest.append(max(len(h) for h in self.history.values()))
        return result

    monkeypatch.setattr(network.NetworkChecker, "run", run)
    result = compile_source(SourceFile("deep.gen", chain_spec(300)), emit_files=False)
    assert result.ok, [d.message for d in result.diagnostics]
    assert longest and max(longest) <= network.HISTORY


def test_shapes_note_of_a_long_chain():
    # 10 widening steps, so that the note has more than 8 distinct shapes to show
    steps = "\n".join(f"    linear({64 + i})" for i in range(1, 11))
    text = chain_spec(200, steps + "\n    reshape(7, 11)")
    result = compile_source(SourceFile("deep.gen", text), emit_files=False)
    notes = [n for d in result.diagnostics for n in d.notes if n.startswith("shapes:")]
    assert notes, [d.message for d in result.diagnostics]
    shown = ", ".join(f"({64 + i},)" for i in range(3, 11)).replace(", (", " -> (")
    assert notes[0] == "shapes: .. -> " + shown
