"""The two updates of the paper's adversarial training, written once for meta-learning and fine-tuning.

Zakharov et al. 2019 train D and G in turn (imaginaire's ``dis_update`` / ``gen_update``):

- :meth:`AdversarialUpdate.dis_update`: D sees real and generated images of the same sketches and
  minimises the hinge loss (plus, in meta-learning, the embedding-match term that moves W's columns);
- :meth:`AdversarialUpdate.gen_update`: with D frozen, the generator side minimises the content loss,
  the adversarial loss, feature matching (and the embedding-match term, and an optional pixel L1).

Meta-learning (:class:`headshot.train.trainer.Trainer`) and few-shot fine-tuning
(:func:`headshot.train.finetune.finetune_networks`) differ only in how D scores an image: with its
column W_i of the episode's video, or with the new person's free vector w′. Each passes that as a
*critic*, ``critic(images, sketches) -> (scores, activations)``.

What D judges as generated is the config's ``adversarial_target`` (:func:`generate`): the blended output
(default) or, for a warp-guided G, G's own painting before the blend; the content and L1 terms always
compare the blended output with the target.
"""

from __future__ import annotations

import contextlib
from typing import Callable

import torch

from ..neural.config import TrainConfig
from ..neural.generator import composite
from ..neural.losses import ContentLoss, GeneratorLossTerms, ZakharovLoss

Critic = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, list[torch.Tensor]]]


def autocast(device: torch.device, bf16: bool):
    """bf16 autocast on CUDA when ``bf16``; fp32 otherwise (CPU always)."""
    if device.type == "cuda" and bf16:
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return torch.autocast("cpu", enabled=False)


def build_loss(cfg: TrainConfig, embedding_match: bool = True) -> ZakharovLoss:
    """The weighted objective of a training configuration. ``embedding_match=False`` drops L_MCH (fine-tuning:
    a new person has no column of W)."""
    weights = cfg.loss_weights()
    if not embedding_match:
        weights.embedding_match = 0.0
    content = None
    if weights.content_mobilenet or "vgg" in cfg.content_network:
        content = ContentLoss(cfg.content_network, weights, cfg.vgg19_weights, cfg.vggface_weights)
    return ZakharovLoss(weights, content)


def generate(run: Callable[[bool], torch.Tensor], guide: torch.Tensor | None,
             target: str = "output") -> tuple[torch.Tensor, torch.Tensor]:
    """G's output and the image D judges as generated: ``(output, judged)``, both ``(B, 3, S, S)``.

    ``run(parts)`` runs G (``parts=True``: G's painting and blend mask before the blend, see
    :meth:`headshot.neural.generator.Generator.forward_with_psi`). ``target`` is the config's
    ``adversarial_target``: ``output`` judges the output itself; ``painting`` with a ``guide`` (a
    warp-guided G) judges G's painting, and the output is ``composite(parts, guide)``, exactly what G
    returns without ``parts``. Without a guide (landmarks-only G) the painting is the output.
    """
    if target == "painting" and guide is not None:
        parts = run(True)
        return composite(parts, guide), parts[:, :3]
    output = run(False)
    return output, output


class AdversarialUpdate:
    """One D update and one generator-side update, on tensors the caller has computed.

    Args:
        loss: the weighted objective (:func:`build_loss`).
        opt_g: optimiser of the generator side (meta-learning: E and G; fine-tuning: G′ and ψ′).
        opt_d: optimiser of the D side; None when there is no discriminator (fine-tuning a model file
            without one: content and L1 only).
        discriminator: D; frozen (``requires_grad``) during :meth:`gen_update` when ``freeze_discriminator``.
        freeze_discriminator: False under DistributedDataParallel, whose hooks need every parameter to keep
            ``requires_grad``; D's gradients of the generator update are then discarded.
        autocast: factory of the context the critic runs in (meta-learning: bf16 on CUDA); default none.
    """

    def __init__(self, loss: ZakharovLoss, opt_g: torch.optim.Optimizer, opt_d: torch.optim.Optimizer | None,
                 discriminator: torch.nn.Module | None, freeze_discriminator: bool = True,
                 autocast: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext):
        self.loss = loss
        self.opt_g, self.opt_d = opt_g, opt_d
        self.discriminator = discriminator
        self.freeze_discriminator = freeze_discriminator and discriminator is not None
        self.autocast = autocast

    def dis_update(self, critic: Critic, real: torch.Tensor, fake: torch.Tensor, sketch: torch.Tensor,
                   extra_loss: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Update D on ``real`` and ``fake`` (generated without gradient: the image D judges, see
        :func:`generate`) images ``(B, 3, S, S)`` of the same ``sketch``. Minimises ``hinge(r_real, r_fake) + extra_loss``. Returns ``(hinge, real_scores,
        fake_scores)``, detached, float32."""
        with self.autocast():
            scores, _ = critic(torch.cat([real, fake.to(real.dtype)]), torch.cat([sketch, sketch]))
        real_scores, fake_scores = scores.float().chunk(2)
        hinge = self.loss.discriminator(real_scores, fake_scores)
        loss = hinge if extra_loss is None else hinge + extra_loss
        self.opt_d.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_d.step()
        return hinge.detach(), real_scores.detach(), fake_scores.detach()

    def gen_update(self, critic: Critic | None, fake: torch.Tensor, real: torch.Tensor, sketch: torch.Tensor,
                   w_columns: torch.Tensor | None = None, embeddings: torch.Tensor | None = None,
                   judged: torch.Tensor | None = None, extra_loss: torch.Tensor | None = None) -> GeneratorLossTerms:
        """Update the generator side from ``fake`` (G's output for ``sketch``, with its graph) against
        ``real``: the content and L1 terms compare ``fake`` with ``real``; D (frozen) scores ``judged``
        (with its graph; default ``fake``: see :func:`generate`) and ``real`` through ``critic`` for the
        adversarial and feature-matching terms; ``w_columns`` and ``embeddings`` add the embedding-match
        term; ``critic`` None: no D terms; ``extra_loss`` (with its graph) is added to what is minimised
        (meta-learning's identity term), not to the returned ``total``. Returns the loss terms (``total``
        still attached)."""
        count = fake.shape[0]
        judged = fake if judged is None else judged
        with self._frozen_discriminator():
            if critic is None:
                terms = self.loss.generator(fake.float(), real)
            else:
                with self.autocast():
                    scores, activations = critic(torch.cat([judged, real.to(judged.dtype)]),
                                                 torch.cat([sketch, sketch]))
                terms = self.loss.generator(fake.float(), real, scores.float()[:count],
                                            [a.float()[count:] for a in activations],
                                            [a.float()[:count] for a in activations], w_columns, embeddings)
            self.opt_g.zero_grad(set_to_none=True)
            (terms.total if extra_loss is None else terms.total + extra_loss).backward()
            self.opt_g.step()
        if self.opt_d is not None:
            self.opt_d.zero_grad(set_to_none=True)  # D's gradients from this pass (DDP) are not used
        return terms

    @contextlib.contextmanager
    def _frozen_discriminator(self):
        if not self.freeze_discriminator:
            yield
            return
        self.discriminator.requires_grad_(False)
        try:
            yield
        finally:
            self.discriminator.requires_grad_(True)
