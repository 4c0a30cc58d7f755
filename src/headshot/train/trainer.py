"""Meta-learning of E, G and D (Zakharov et al. 2019, Sec. 3.2): the networks, their optimisers and one step.

One *step* is ``d_steps_per_g_step`` discriminator updates (paper: 2) followed by one joint update of the
embedder and generator, each on a fresh batch of episodes:

- D step: ``L_D = hinge(r_real, r_fake)`` (the fake image carries no gradient). With
  ``embedding_match_in_d`` (off by default) also ``+ λ_MCH ‖W_i − ê_i‖₁`` with ê fixed, moving W's columns
  towards the embeddings: that drags W and ê together towards 0 and leaves D's hinge at chance (issue 14).
- E/G step: ``L = L_CNT + L_ADV + λ_FM L_FM + λ_MCH ‖W_i − ê_i‖₁ (+ λ_L1 L1)`` with W fixed here, so the
  match term moves ê towards W. Adam with the paper's learning rates (E, G: 5e-5; D: 2e-4). With
  ``identity_weight`` > 0 (not in the paper) also ``+ identity_weight · (1 − cos(H ê, s̄))``, H a linear head to
  the shots' SFace embeddings (:mod:`headshot.train.identity`): it makes E encode who the person is.

"Fake" is what ``adversarial_target`` names: G's blended output (default) or, for a warp-guided G, its
painting before the blend (:func:`headshot.train.adversarial.generate`); the content terms use the output.

The updates themselves are :class:`headshot.train.adversarial.AdversarialUpdate`'s (shared with
fine-tuning); this module feeds them episodes. After each E/G step an exponential moving average of E and
G is updated (both are needed at inference: E gives ê, G renders); samples and exported models use the
averaged weights. The run around it (data, logs, checkpoints) is :mod:`headshot.train.loop`.
"""

from __future__ import annotations

import copy
import functools
from pathlib import Path

import torch

from ..neural.checkpoint import save_model
from ..neural.config import ModelConfig, TrainConfig
from ..neural.discriminator import Discriminator
from ..neural.embedder import Embedder
from ..neural.generator import Generator
from ..neural.losses import embedding_match_loss
from .adversarial import AdversarialUpdate, autocast, build_loss, generate
from .distributed import DistributedContext, wrap
from .identity import embedding_share, identity_head, identity_loss

# learning rate of the identity head relative to lr_generator (see Trainer.__init__)
IDENTITY_HEAD_LR_FACTOR = 10.0


class Trainer:
    """E, G, D, their optimisers, the EMA copies and the two update steps.

    Args:
        model_cfg: the architecture.
        train_cfg: the training recipe.
        num_videos: columns of D's W (videos of the training split).
        context: the process's place in the process group and its device.
    """

    def __init__(self, model_cfg: ModelConfig, train_cfg: TrainConfig, num_videos: int,
                 context: DistributedContext):
        self.model_cfg = model_cfg
        self.train_cfg = train_cfg
        self.context = context
        device = context.device
        torch.manual_seed(train_cfg.seed)  # identical initial weights on every rank
        self.E = Embedder(model_cfg).to(device)
        self.G = Generator(model_cfg).to(device)
        self.D = Discriminator(model_cfg, num_videos).to(device)
        self.E_ema = copy.deepcopy(self.E).eval().requires_grad_(False)
        self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False)
        unused = train_cfg.ddp_find_unused_parameters
        self.E_ddp, self.G_ddp, self.D_ddp = (wrap(m, context, unused) for m in (self.E, self.G, self.D))
        betas = train_cfg.betas
        groups = [{"params": list(self.E.parameters()) + list(self.G.parameters())}]
        # identity_weight > 0: the trainer-only head ê -> SFace (headshot.train.identity), after E and G in opt_g
        # (their parameter indices, and so checkpoints of runs without it, are unchanged); made after E, G and
        # D, so their initial weights do not depend on it. Its own learning rate: from random weights it has
        # to become a useful read-out of ê in a few hundred steps, E's rate is for slow, stable change.
        self.H = identity_head(model_cfg.embedding_dim).to(device) if train_cfg.identity_weight > 0 else None
        self.H_ddp = wrap(self.H, context, unused) if self.H is not None else None
        if self.H is not None:
            groups.append({"params": list(self.H.parameters()), "lr": IDENTITY_HEAD_LR_FACTOR * train_cfg.lr_generator})
        self.opt_g = torch.optim.Adam(groups, lr=train_cfg.lr_generator, betas=betas)
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=train_cfg.lr_discriminator, betas=betas)
        self.loss = build_loss(train_cfg).to(device)
        self.weights = self.loss.loss_weights
        self.d_steps = train_cfg.d_steps_per_g_step
        self.ema_decay = train_cfg.ema_decay
        self.autocast = functools.partial(autocast, device, train_cfg.bf16)
        # Under DDP every parameter keeps requires_grad (the reducer's hooks); D is frozen otherwise.
        self.update = AdversarialUpdate(self.loss, self.opt_g, self.opt_d, self.D,
                                        freeze_discriminator=not context.enabled, autocast=self.autocast)
        self.step = 0

    # -- state ---------------------------------------------------------------------------------------
    def modules(self) -> dict[str, torch.nn.Module]:
        modules = {"E": self.E, "G": self.G, "D": self.D, "E_ema": self.E_ema, "G_ema": self.G_ema}
        if self.H is not None:
            modules["H"] = self.H
        return modules

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"opt_g": self.opt_g, "opt_d": self.opt_d}

    # -- steps ---------------------------------------------------------------------------------------
    def _inputs(self, batch: dict) -> dict[str, torch.Tensor]:
        device = self.context.device
        return {key: value.to(device, non_blocking=True) for key, value in batch.items()
                if torch.is_tensor(value)}

    def _critic(self, video_index: torch.Tensor):
        """D scoring a batch of real and generated images of these episodes (W's columns of their videos)."""
        both = torch.cat([video_index, video_index])
        return lambda images, sketches: self.D_ddp(images, sketches, both)

    def _generate(self, x: dict[str, torch.Tensor], embedding: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """G's output for the episodes' targets and the image D judges (``adversarial_target``)."""
        guide = x.get("guide")
        return generate(lambda parts: self.G_ddp(x["target_sketch"], embedding, guide, parts=parts), guide,
                        self.train_cfg.adversarial_target)

    def d_step(self, batch: dict) -> dict[str, float]:
        """One discriminator update on a batch of episodes; returns its logged values."""
        x = self._inputs(batch)
        with torch.no_grad(), self.autocast():
            embedding = self.E_ddp(x["shots"], x["shot_sketches"])
            _, fake = self._generate(x, embedding)  # what D judges: the output or G's painting
        match = None
        if self.weights.embedding_match and self.train_cfg.embedding_match_in_d:
            columns = self.D.W.t()[x["video_index"]]
            match = self.weights.embedding_match * embedding_match_loss(columns, embedding.float())
        hinge, real_scores, fake_scores = self.update.dis_update(
            self._critic(x["video_index"]), x["target"], fake, x["target_sketch"], match)
        return {"d_loss": float(hinge), "real_score": float(real_scores.mean()),
                "fake_score": float(fake_scores.mean())}

    def g_step(self, batch: dict) -> dict[str, float]:
        """One joint E/G update on a batch of episodes; updates the EMA; returns its logged values."""
        x = self._inputs(batch)
        with self.autocast():
            embedding = self.E_ddp(x["shots"], x["shot_sketches"])
            fake, judged = self._generate(x, embedding)
        columns = self.D.W.t()[x["video_index"]].detach()
        identity = None
        if self.H is not None:  # the auxiliary identity term (train key identity_weight)
            identity = identity_loss(self.H_ddp, embedding, x["shot_identity"])
        terms = self.update.gen_update(self._critic(x["video_index"]), fake, x["target"], x["target_sketch"],
                                       columns, embedding.float(), judged=judged,
                                       extra_loss=None if identity is None else self.train_cfg.identity_weight * identity)
        self.update_ema()
        logged = {"g_loss": float(terms.total.detach())}
        logged.update({name: float(value.detach()) for name, value in terms.terms.items()})
        if identity is not None:
            logged["identity"] = float(identity.detach())  # 1 - cosine, unweighted
        logged["e_share"] = embedding_share(embedding)
        logged["l1_to_target"] = float((fake.detach().float() - x["target"]).abs().mean())
        # RMS of psi = P e: the size of the person's AdaIN parameters (near 0: the identity path is dead)
        with torch.no_grad():
            logged["psi_rms"] = float(self.G.adain_params(embedding.detach().float()).pow(2).mean().sqrt())
        return logged

    @torch.no_grad()
    def seed_w_columns(self, dataset, seed: int = 0, batch: int = 8) -> None:
        """Set each column W_i of D to E's embedding of video i: the mean of ê over one episode of each of
        its clips (``dataset[(clip, seed)]``, deterministic, so every DDP rank sets the same values). Done once,
        before the first step of a fresh run (``seed_w_from_embeddings``): L_MCH then starts near 0 instead of
        pulling ê towards random vectors, which shrinks ê and ψ = P·ê towards 0 (issue 14)."""
        device = self.context.device
        was_training = self.E.training
        self.E.eval()  # spectral norm's power iteration is not advanced by this pass
        total = torch.zeros_like(self.D.W)
        count = torch.zeros(self.D.num_videos, device=device)
        for start in range(0, len(dataset), batch):
            items = [dataset[(clip, seed)] for clip in range(start, min(start + batch, len(dataset)))]
            shots = torch.stack([item["shots"] for item in items]).to(device)
            sketches = torch.stack([item["shot_sketches"] for item in items]).to(device)
            videos = torch.tensor([int(item["video_index"]) for item in items], device=device)
            embedding = self.E(shots, sketches).float()
            total.index_add_(1, videos, embedding.t())
            count.index_add_(0, videos, torch.ones_like(videos, dtype=count.dtype))
        seen = count > 0
        self.D.W[:, seen] = total[:, seen] / count[seen]
        self.E.train(was_training)

    @torch.no_grad()
    def update_ema(self) -> None:
        """``ema ← d·ema + (1 − d)·live`` for E's and G's parameters; buffers are copied.

        ``d = min(ema_decay, (1 + t) / (10 + t))`` at step ``t``: the usual warm-up, so that a short run's
        average is not dominated by the random initial weights.
        """
        decay = min(self.ema_decay, (1.0 + self.step) / (10.0 + self.step))
        for live, ema in ((self.E, self.E_ema), (self.G, self.G_ema)):
            for p_ema, p in zip(ema.parameters(), live.parameters()):
                p_ema.lerp_(p.detach(), 1.0 - decay)
            for b_ema, b in zip(ema.buffers(), live.buffers()):
                b_ema.copy_(b)

    def train_step(self, batches: list[dict]) -> dict[str, float]:
        """One step: ``d_steps`` D updates then one E/G update; ``batches`` has ``d_steps + 1`` batches."""
        self.E.train(), self.G.train(), self.D.train()
        logged: dict[str, float] = {}
        for batch in batches[:self.d_steps]:
            for key, value in self.d_step(batch).items():
                logged[key] = logged.get(key, 0.0) + value / max(1, self.d_steps)
        logged.update(self.g_step(batches[-1]))
        self.step += 1
        return logged

    @torch.no_grad()
    def render(self, batch: dict, ema: bool = True) -> torch.Tensor:
        """Generated targets ``(B, 3, H, W)`` in [-1, 1] for a batch (EMA weights by default), on CPU."""
        x = self._inputs(batch)
        embedder, generator = (self.E_ema, self.G_ema) if ema else (self.E, self.G)
        was_training = generator.training, embedder.training
        embedder.eval(), generator.eval()
        embedding = embedder(x["shots"], x["shot_sketches"])
        out = generator(x["target_sketch"], embedding, x.get("guide")).float().cpu()
        embedder.train(was_training[1]), generator.train(was_training[0])
        return out


def export_model(trainer: Trainer, path: str | Path, extra: dict | None = None) -> Path:
    """Write the inference model file (:mod:`headshot.neural.checkpoint` format) of a trainer.

    Entries: ``embedder`` (EMA weights of E), ``generator`` (live G), ``generator_ema`` (EMA of G) and
    ``discriminator`` (needed by ``headshot finetune``). Loadable by ``NeuralEngine(model_path=...)``.
    The metadata always holds ``train_config`` (the trainer's, unless ``extra`` gives another): fine-tuning
    takes its loss settings from it, and without it would fall back to the defaults.
    """
    modules = {"embedder": trainer.E_ema, "generator": trainer.G, "generator_ema": trainer.G_ema,
               "discriminator": trainer.D}
    metadata = {"train_config": trainer.train_cfg.to_dict(), **(extra or {})}
    return save_model(path, modules, trainer.model_cfg, metadata)
