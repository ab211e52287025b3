"""The key-point-image U-Net on the shared "warp + learned residual" renderer: pix2pix's
generator shape on the warp, and (with the target's own key-point image as well) landmark-fusion's
modified U-Net. Both families' ``*-warp`` methods build it through :func:`keypoint_warp_generator`."""
from __future__ import annotations

import torch
import torch.nn as nn

from ..nets import UNetGenerator
from ..residual import IN_CHANNELS, WarpResidualGenerator


class KeypointUNet(nn.Module):
    """A U-Net backbone of the "warp + learned residual" shape: it reads the warped crop and base
    flow (:data:`~facexpr.methods.residual.IN_CHANNELS`), the wanted key-point image and, unless
    ``target_map`` is False (plain pix2pix: the condition alone), the target's own key-point image;
    it returns features at the crop size."""

    def __init__(self, feat_ch: int, base: int, depth: int, max_ch: int, res_blocks: int, norm: str,
                 target_map: bool = True):
        super().__init__()
        self.target_map = target_map
        self.unet = UNetGenerator(IN_CHANNELS + 1 + int(target_map), feat_ch, base, depth, max_ch, res_blocks, norm)

    def forward(self, x: torch.Tensor, target_map: torch.Tensor, want_map: torch.Tensor) -> torch.Tensor:
        maps = [target_map * 2 - 1] if self.target_map else []
        return self.unet(torch.cat([x, *maps, want_map * 2 - 1], 1))[0]


def keypoint_warp_generator(feat_ch: int = 16, base: int = 16, depth: int = 4, max_ch: int = 128,
                            res_blocks: int = 1, norm: str = "instance", target_map: bool = True):
    """``G(image, base_flow, target_map, want_map, base=warped)``: :class:`KeypointUNet` on the
    product's warp (:class:`~facexpr.methods.residual.WarpResidualGenerator`); the output equals
    the warp at initialisation."""
    G = WarpResidualGenerator(KeypointUNet(feat_ch, base, depth, max_ch, res_blocks, norm, target_map), feat_ch)
    G.spec = dict(feat_ch=feat_ch, base=base, depth=depth, max_ch=max_ch, res_blocks=res_blocks, norm=norm)
    if not target_map:  # the LF-warp weights shipped before the option have no key: True
        G.spec["target_map"] = False
    return G


__all__ = ["KeypointUNet", "keypoint_warp_generator"]
