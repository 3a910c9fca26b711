"""Reading spec files: encodings and marks editors add."""

from pathlib import Path

from gendsl.driver import compile_path

SPECS = Path(__file__).resolve().parents[2] / "specs"


def test_a_utf8_byte_order_mark_is_ignored(tmp_path):
    text = (SPECS / "vae.gen").read_bytes()
    with_bom = tmp_path / "vae.gen"
    with_bom.write_bytes(b"\xef\xbb\xbf" + text)
    result = compile_path(str(with_bom))
    assert result.ok, [d.message for d in result.diagnostics]
    assert result.model.name == "vae"


def test_a_byte_order_mark_inside_the_text_is_still_an_error(tmp_path):
    path = tmp_path / "bad.gen"
    path.write_bytes((SPECS / "vae.gen").read_bytes() + "\ufeff".encode())
    result = compile_path(str(path))
    assert not result.ok
