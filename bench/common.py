"""What every benchmark shares: the machine, child processes with their peak memory, statistics."""

from __future__ import annotations

import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable


def gendsl_command() -> list[str]:
    """The `gendsl` console script next to this Python, else `python -m gendsl`."""
    script = Path(PYTHON).with_name("gendsl")
    return [str(script)] if script.exists() else [PYTHON, "-m", "gendsl"]


def child_env(**extra: str) -> dict[str, str]:
    """The environment of measured child processes.

    Python may write bytecode (PYTHONDONTWRITEBYTECODE is dropped): an installed gendsl has its
    .pyc files, and without them every run would compile the compiler first. One thread per
    process is not forced: training uses what torch picks, as a user's run would.
    """
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.setdefault("PYTHONHASHSEED", "0")
    env.update(extra)
    return env


@dataclass
class Run:
    seconds: float  # wall-clock time of the whole process
    max_rss_kb: int  # peak resident set size of the process
    returncode: int
    stdout: str = ""
    stderr: str = ""


# Runs a command and writes its peak RSS to the file named by $BENCH_RSS_FILE. A child inherits the
# peak RSS of the process it was forked from (Linux keeps the pre-exec high-water mark), so the bench
# process, which holds torch and large tensors, must not be that parent: this small one (python -S,
# ~10 MB) is.
_LAUNCHER = """
import os, sys
pid = os.posix_spawnp(sys.argv[1], sys.argv[1:], os.environ)
_, status, usage = os.wait4(pid, 0)
with open(os.environ["BENCH_RSS_FILE"], "w") as f:
    f.write(str(usage.ru_maxrss))
code = os.waitstatus_to_exitcode(status)
sys.exit(code if code >= 0 else 128 - code)
"""


def run(cmd: list[str], *, cwd: Path | str | None = None, env: dict | None = None, timeout: float = 600,
        check: bool = True, rss: bool = False) -> Run:
    """Run one child process: its wall time, and with `rss` its own peak RSS (through _LAUNCHER; the
    launcher adds ~20 ms of wall time, so compile timings run without it). stdout and stderr go
    through files."""
    env = dict(env if env is not None else child_env())
    rss_file = None
    if rss:
        fd, rss_file = tempfile.mkstemp(prefix="bench-rss-")
        os.close(fd)
        env["BENCH_RSS_FILE"] = rss_file
        cmd = [PYTHON, "-S", "-c", _LAUNCHER] + [str(c) for c in cmd]
    try:
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            started = time.perf_counter()
            proc = subprocess.Popen(cmd, cwd=cwd, env=env, text=True, stdout=out, stderr=err,
                                    start_new_session=True)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, 9)
                proc.wait()
                raise RuntimeError(f"timed out after {timeout:.0f} s: {' '.join(map(str, cmd))}") from None
            seconds = time.perf_counter() - started
            out.seek(0)
            err.seek(0)
            peak = 0
            if rss_file is not None:
                text = Path(rss_file).read_text().strip()
                peak = int(text) if text else 0
            result = Run(seconds, peak, proc.returncode, out.read(), err.read())
    finally:
        if rss_file is not None:
            os.unlink(rss_file)
    if check and result.returncode != 0:
        raise RuntimeError(f"exit {result.returncode}: {' '.join(map(str, cmd))}\n{result.stderr[-2000:]}")
    return result


@dataclass
class Stat:
    """Repeated measurements of one quantity."""

    values: list[float] = field(default_factory=list)

    def add(self, v: float) -> None:
        self.values.append(v)

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def low(self) -> float:
        return min(self.values)

    @property
    def high(self) -> float:
        return max(self.values)

    def fmt(self, digits: int = 3, unit: str = "") -> str:
        """`0.177 s (0.174-0.217)`: median, then min-max."""
        u = f" {unit}" if unit else ""
        return f"{self.median:.{digits}f}{u} ({self.low:.{digits}f}-{self.high:.{digits}f})"

    def to_dict(self) -> dict:
        return {"median": self.median, "min": self.low, "max": self.high, "n": len(self.values),
                "values": self.values}


def machine() -> dict:
    """CPU model, cores, memory, Python and torch versions, load: what the figures depend on."""
    info = {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count()}
    try:
        text = Path("/proc/cpuinfo").read_text()
        models = [line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("model name")]
        if models:
            info["cpu"] = models[0]
        flags = next((line for line in text.splitlines() if line.startswith("flags")), "")
        info["avx512"] = " avx512f" in flags
        info["amx"] = " amx_bf16" in flags or " amx_tile" in flags
    except OSError:
        pass
    if hasattr(os, "sched_getaffinity"):
        info["cores_usable"] = len(os.sched_getaffinity(0))
    try:
        mem = next(line for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal"))
        info["memory_gib"] = round(int(mem.split()[1]) / 2**20, 1)
    except (OSError, StopIteration):
        pass
    try:
        info["load_average"] = tuple(float(x) for x in Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        pass
    info["python"] = platform.python_version()
    info["platform"] = platform.platform()
    try:
        import torch

        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
        info["device"] = "cpu" + (f" (CUDA available: {torch.cuda.get_device_name(0)})"
                                  if torch.cuda.is_available() else "")
    except ImportError:
        info["torch"] = None
    for name in ("lark", "jinja2", "networkx"):
        try:
            from importlib.metadata import version

            info[name] = version(name)
        except Exception:  # noqa: BLE001 - informational only
            info[name] = None
    info["compiler"] = shutil.which("g++") or shutil.which("c++") or shutil.which("clang++")
    return info


def loglog_slope(xs: list[float], ys: list[float]) -> float:
    """Least-squares slope of log(y) against log(x): the exponent b of y = a * x^b."""
    import math

    lx = [math.log(x) for x in xs]
    ly = [math.log(y) for y in ys]
    mx, my = sum(lx) / len(lx), sum(ly) / len(ly)
    sxx = sum((a - mx) ** 2 for a in lx)
    sxy = sum((a - mx) * (b - my) for a, b in zip(lx, ly))
    return sxy / sxx


def table(rows: list[list[str]], header: list[str]) -> str:
    """A Markdown table (also readable in a terminal)."""
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]

    def line(cells):
        return "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths)) + " |"
    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(header), sep] + [line(r) for r in rows])


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)
