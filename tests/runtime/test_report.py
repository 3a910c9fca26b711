"""OUT/report.html: built from a run folder, self-contained, and rendered by a real browser (headless
Chromium, driven over the DevTools protocol on a pipe) with no console errors and every image shown."""

from __future__ import annotations

import base64
import json
import os
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from gendsl.cli import main
from gendsl.runtime.report import write_report

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)


def png(width: int, height: int, shade: int) -> bytes:
    """A small grey PNG, written here so the test needs no imaging library."""
    raw = b"".join(b"\x00" + bytes([(shade + x + y) % 256 for x in range(width)]) for y in range(height))

    def chunk(tag, body):
        return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body) & 0xFFFFFFFF)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


@pytest.fixture
def run(tmp_path):
    """A run folder as train.py leaves it."""
    out = tmp_path / "runs" / "vae"
    (out / "samples").mkdir(parents=True)
    rows = ["step,epoch,split,loss,bce,kl"]
    rows += [f"{s},{s // 10},train,{100 - s},{90 - s},{10 + s / 10}" for s in range(0, 50, 5)]
    rows += ["50,5,test,55,50,5", "100,10,test,52,48,4"]
    (out / "losses.csv").write_text("\n".join(rows) + "\n")
    (out / "metrics.json").write_text(json.dumps({"steps": 100, "test_loss": 52.25, "modes": [1, 2]}))
    for epoch in (1, 2, 3):
        (out / "samples" / f"epoch_{epoch:03d}.png").write_bytes(png(16, 16, epoch * 40))
    (out / "latent.png").write_bytes(png(8, 8, 7))
    return out


def test_report_holds_every_part_of_the_run(run):
    path = write_report(run, command=["train.py", "--epochs", "2", "--out", "runs/<vae>"],
                        graph='<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>',
                        spec_text="model vae & co")
    page = path.read_text()
    assert path == run / "report.html"
    assert page.count('<img src="data:image/png;base64,') == 3 + 1 + 1  # the grids, the latest again, latent.png
    assert 'data:image/svg+xml;base64,' in page  # the graph
    for term in ("loss", "bce", "kl"):
        assert f'aria-label="{term}"' in page
    assert "epoch 1" in page and "latest: epoch 3" in page
    assert "<th>test_loss</th><td>52.25</td>" in page and "[1, 2]" in page
    assert "train.py --epochs 2 --out &#x27;runs/&lt;vae&gt;&#x27;" in page  # escaped as written
    assert "model vae &amp; co" in page
    assert "src=\"http" not in page and "href=" not in page  # nothing outside the file


def test_report_of_an_empty_folder_says_what_is_missing(tmp_path):
    page = write_report(tmp_path).read_text()
    assert "no losses.csv" in page and "no sample grids" in page and "has not finished" in page


def test_report_command_draws_the_graph_of_the_spec(run, capsys):
    assert main(["report", str(run), "--spec", str(ROOT / "specs" / "vae.gen"), "--command", "gendsl run x"]) == 0
    page = (run / "report.html").read_text()
    graph = page.split('class="graph"')[0].rsplit('src="data:image/svg+xml;base64,', 1)[1].split('"')[0]
    assert b"encoder enc" in base64.b64decode(graph)
    assert "gendsl run x" in page


# ---- in a real browser -------------------------------------------------------------------

class DevTools:
    """Chromium's DevTools protocol over --remote-debugging-pipe: JSON messages ending in NUL on fds 3/4."""

    def __init__(self, profile: Path):
        ours_in, theirs_out = os.pipe()  # the browser writes to fd 4
        theirs_in, ours_out = os.pipe()  # the browser reads fd 3
        flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-extensions", f"--user-data-dir={profile}", "--remote-debugging-pipe", "about:blank"]
        # the shell puts the pipe ends on fds 3 and 4, where the browser looks for them
        self.proc = subprocess.Popen(["bash", "-c", f'exec "$0" "$@" 3<&{theirs_in} 4>&{theirs_out}', CHROMIUM,
                                      *flags], pass_fds=(theirs_in, theirs_out),
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(theirs_in)
        os.close(theirs_out)
        self.reader, self.writer = os.fdopen(ours_in, "rb"), os.fdopen(ours_out, "wb")
        self.next_id, self.events, self.buffer = 0, [], b""

    def send(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        self.writer.write(json.dumps(message).encode() + b"\0")
        self.writer.flush()
        while True:
            reply = self._read()
            if reply.get("id") == self.next_id:
                assert "error" not in reply, reply
                return reply["result"]
            self.events.append(reply)

    def _read(self) -> dict:
        while b"\0" not in self.buffer:
            data = self.reader.read1(65536)
            assert data, "chromium closed the pipe"
            self.buffer += data
        message, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(message)

    def close(self):
        try:
            self.send("Browser.close")
        except Exception:  # noqa: BLE001 - it may be gone already
            pass
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (Debian: apt install chromium; .ci/run "
                                             "installs it)")
def test_report_renders_in_chromium_with_images_and_no_console_errors(run, tmp_path):
    page = write_report(run, command="python train.py",
                        graph='<svg xmlns="http://www.w3.org/2000/svg" width="40" height="20"><rect width="40" '
                              'height="20" fill="teal"/></svg>')
    browser = DevTools(tmp_path / "profile")
    try:
        target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = browser.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            browser.send(f"{domain}.enable", session=session)
        browser.send("Page.navigate", {"url": page.as_uri()}, session=session)
        state = None
        for _ in range(100):
            state = browser.send("Runtime.evaluate", {"returnByValue": True, "expression": """({
                ready: document.readyState,
                images: Array.from(document.images).map(i => [i.complete, i.naturalWidth, i.alt]),
                charts: document.querySelectorAll('svg.chart polyline').length,
                title: document.title})"""}, session=session)["result"]["value"]
            if state["ready"] == "complete" and all(done for done, _, _ in state["images"]):
                break
        problems = [e for e in browser.events if e.get("method") == "Runtime.exceptionThrown"
                    or (e.get("method") == "Runtime.consoleAPICalled" and e["params"]["type"] in ("error", "assert"))
                    or (e.get("method") == "Log.entryAdded" and e["params"]["entry"]["level"] == "error")]
    finally:
        browser.close()
    assert problems == []
    assert state["title"] == "vae: training report"
    assert len(state["images"]) == 6  # graph, latest grid, three grids, latent.png
    assert all(done and width > 0 for done, width, _ in state["images"]), state["images"]
    assert state["charts"] >= 3
