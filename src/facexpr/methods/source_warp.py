"""Generators told the *source photo itself* (not its landmarks or AUs), on the product's warp.

``au-swap`` (Shao et al. 2019) and ``aip-gan`` (Ali & Hughes 2020) both encode the source image
into expression features and the target into identity (AU-free) features. On the shared "warp +
learned residual" shape (:mod:`.residual`) the product's warp moves the target to the
retargeted landmarks (:mod:`.warp_base`) and the family's network, told both images, adds a flow
correction, a colour residual and a blend mask at the photo's own resolution; at initialisation
the output is the warp.

:class:`SourceWarpAdapter` is what both families share at inference and in training (the sample's
base, the forward pass, the detail crop); :class:`SourceWarpMethod` is the transfer method (an edit
has no source photo to encode, so it is refused, exit code 2). A family names its generator's
extra inputs in :attr:`SourceWarpAdapter.inputs` (sample keys, after ``source``).
"""
from __future__ import annotations

import torch

from .exported import GeneratorAdapter, GeneratorMethod
from .residual import compose
from .warp_base import add_base


class SourceWarpAdapter(GeneratorAdapter):
    """``G(target, base_flow, source, *extra, base=warp)``; ``extra`` = the sample keys in
    :attr:`inputs`, which :meth:`extra_inputs` adds to every sample (data workers and inference)."""

    warp_base = True
    inputs: tuple[str, ...] = ()

    def extra_inputs(self, sample: dict) -> dict:
        return sample

    def sample_transform(self, sample: dict) -> dict:
        return self.extra_inputs(add_base(sample, int(self.model.get("flow_grid", 64))))

    def _args(self, batch):
        return (batch["target"], batch["base_flow"], batch["source"], *(batch[k] for k in self.inputs))

    def generate(self, G, batch):
        return G(*self._args(batch), base=batch["base"])[0]

    @torch.no_grad()
    def generate_detail(self, G, batch, image: torch.Tensor) -> torch.Tensor:
        """The fields computed on the training-size crops, applied to ``image`` (a larger crop of
        the warped photo): the face stays as sharp as the photo."""
        return compose(image, G.fields(*self._args(batch), base=batch["base"]))


class SourceWarpMethod(GeneratorMethod):
    """A source-conditioned generator as a transfer method: it renders the retargeted landmarks
    like ``warp`` does (so the pipeline's closed loop may correct them), its network told both
    photos' aligned crops; a generator trained as a variant (``au-swap-…``) may run as its family."""


__all__ = ["SourceWarpAdapter", "SourceWarpMethod"]
