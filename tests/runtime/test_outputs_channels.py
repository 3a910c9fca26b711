"""Image grids of any channel count (issue 15: a spec of `image[2, H, W]` passed check, then the
run crashed saving its first grid)."""

from __future__ import annotations

import torch

from gendsl.runtime.outputs import save_image_grid


def test_an_image_of_two_channels_is_saved_channel_by_channel(tmp_path):
    from PIL import Image
    save_image_grid(torch.rand(3, 2, 4, 5), tmp_path / "g.png", value_range=(0.0, 1.0), nrow=3, padding=0)
    width, height = Image.open(tmp_path / "g.png").size
    assert (width, height) == (6 * 5, 4)  # 3 images x 2 channels in one row
