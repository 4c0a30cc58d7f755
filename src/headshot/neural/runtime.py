"""Run the generator with ONNX Runtime on CPU: about twice as fast as eager PyTorch for this small network
on one core (``benchmarks/neural_bench.py``), with the same outputs up to float rounding (~1e-4).

The generator is exported once, in memory, when the engine loads (well under a second at the default
size); psi (and the guide of warp-guided models) are graph inputs, so a new identity needs no re-export.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
import torch
from torch import nn

from .generator import Generator, composite


class _WithPsi(nn.Module):
    def __init__(self, generator: Generator):
        super().__init__()
        self.generator = generator

    def forward(self, sketch: torch.Tensor, psi: torch.Tensor, guide: torch.Tensor | None = None) -> torch.Tensor:
        # Warp-guided: G's image and blend mask (the blend is done outside, at the guide's resolution).
        return self.generator.forward_with_psi(sketch, psi, guide, parts=self.generator.cfg.warp_guided)


def export_generator_onnx(generator: Generator) -> bytes:
    """ONNX bytes of ``generator.forward_with_psi`` for one image: inputs ``sketch (1, 3, S, S)``,
    ``psi (1, psi_dim)`` and, for warp-guided models, ``guide (1, 3, S, S)``; output ``image`` (warp-guided:
    ``(1, 4, S, S)``, G's image and blend mask, see ``Generator.forward_with_psi(parts=True)``). Bake the
    spectral norm first (:func:`headshot.neural.layers.bake_spectral_norm`) and call in eval mode."""
    size = generator.cfg.image_size
    sketch = torch.zeros(1, 3, size, size)
    psi = torch.zeros(1, generator.psi_dim)
    inputs: tuple = (sketch, psi)
    names = ["sketch", "psi"]
    if generator.cfg.warp_guided:
        inputs += (torch.zeros(1, 3, size, size),)
        names.append("guide")
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # tracer notes about the shape checks (constant for batch 1)
        torch.onnx.export(_WithPsi(generator).eval(), inputs, buffer, input_names=names,
                          output_names=["image"], opset_version=17, dynamo=False)
    return buffer.getvalue()


class OnnxGenerator:
    """``forward_with_psi`` of an exported generator on ONNX Runtime's CPU provider (batch 1).

    Args:
        generator: the (baked, eval-mode) generator to export.
        threads: ONNX Runtime intra-op threads (1 leaves the other core to face tracking and video I/O).
    """

    def __init__(self, generator: Generator, threads: int = 1):
        import onnxruntime  # optional at run time: the engine falls back to torch without it

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = max(1, int(threads))
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self.session = onnxruntime.InferenceSession(export_generator_onnx(generator), options,
                                                    providers=["CPUExecutionProvider"])
        self.warp_guided = generator.cfg.warp_guided

    def forward_with_psi(self, sketch: torch.Tensor, psi: torch.Tensor,
                         guide: torch.Tensor | None = None, parts: bool = False) -> torch.Tensor:
        """Same contract as :meth:`Generator.forward_with_psi` for one image; returns a CPU tensor."""
        feeds = {"sketch": _numpy(sketch), "psi": _numpy(psi)}
        if self.warp_guided:
            if guide is None:
                raise ValueError("a warp-guided generator needs the guide image")
            feeds["guide"] = _numpy(guide)
        output = torch.from_numpy(self.session.run(None, feeds)[0])
        if self.warp_guided and not parts:
            output = composite(output, guide.detach().cpu().float())
        return output


def _numpy(tensor: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(tensor.detach().cpu().float().numpy())
