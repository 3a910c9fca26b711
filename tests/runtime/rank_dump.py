"""Run a generated train.py (argv[1]) under torchrun and write each process's parameters at the end.

tests/runtime/test_distributed.py starts it as `torchrun ... -- rank_dump.py TRAIN_PY [train.py options]`:
each process writes OUT/rank<R>.pt ({name: tensor} of the model's parameters and buffers) when
the loop has finished, before the processes leave their group, so the test can compare them.
"""

import runpy
import sys
from pathlib import Path

import torch

script = Path(sys.argv[1]).resolve()
sys.argv = sys.argv[1:]
sys.path.insert(0, str(script.parent))
sys.path.insert(0, str(script.parents[1]))
from gendsl_runtime import distributed  # noqa: E402

out = Path(sys.argv[sys.argv.index("--out") + 1])
models = []
wrap, finish = distributed.Processes.wrap, distributed.Processes.finish


def wrap_and_remember(self, model):
    models.append(model)
    return wrap(self, model)


def dump_and_finish(self):
    model = models[0]
    torch.save({"parameters": {k: v.detach().cpu() for k, v in model.named_parameters()},
                "buffers": {k: v.detach().cpu() for k, v in model.named_buffers()}},
               out / f"rank{self.rank}.pt")
    finish(self)


distributed.Processes.wrap = wrap_and_remember
distributed.Processes.finish = dump_and_finish
runpy.run_path(str(script), run_name="__main__")
