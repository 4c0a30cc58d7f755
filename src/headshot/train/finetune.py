"""Few-shot fine-tuning on a new person (Zakharov et al. 2019, Sec. 3.3): the paper's FT and FF models.

From T shots of a new person (photos or frames; faces are detected and cropped like ``headshot prepare``):

- ê_new = mean over the shots of E(x_t, y_t);
- **FF** (feed-forward, no fine-tuning): the generator's AdaIN parameters are ψ = P·ê_new;
- **FT**: G′ starts from the meta-learned G with ψ′ = P·ê_new as *free parameters*; D′ starts from the
  meta-learned D with its projection vector w′ = w₀ + ê_new (free parameters too); both are trained on the
  shots with the content loss and the adversarial losses (hinge + feature matching, the paper's L_ADV),
  plus the config's optional pixel L1, for ``steps`` updates.

**Person file** (``-o person.safetensors``, :mod:`headshot.neural.checkpoint` format): FT stores the whole
fine-tuned generator (entry ``generator``) and ``psi`` (``(psi_dim,)``); FF stores only ``psi`` (and
``embedding``). Load it with ``NeuralEngine(model_path=BASE, person_path=PERSON)``: the engine takes psi
(and the fine-tuned G when present) from the person file and skips the embedder. The whole G is stored
(not a delta): at the default size it is a few MB, and the file stays usable without the exact base file.

**In memory** (``headshot eval``'s fine-tuned rows): :func:`finetune_engine` fine-tunes on the shots of a
prepared :class:`~headshot.neural.engine.NeuralEngine` and hands it the tuned G and ψ′; the engine itself
never trains.

The D′ and G′ updates are :class:`headshot.train.adversarial.AdversarialUpdate`'s, the same code as
meta-learning's; only the critic differs (D with the person's w′ instead of a column of W).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import InputError
from ..face.landmarker import FaceAnalyzer
from ..io.atomic import refuse_overwriting_inputs
from ..io.images import read_image
from ..neural.checkpoint import ModelFile, default_model_path, load_model, save_model
from ..neural.config import TrainConfig
from ..neural.discriminator import Discriminator
from ..neural.embedder import Embedder
from ..neural.engine import NeuralEngine
from ..neural.generator import Generator
from ..neural.sketch import to_tensor
from .adversarial import AdversarialUpdate, build_loss, generate
from .dataset import draw_sketches, warp_guide
from .prepare import clip_crop_box, cut_crop

# Shots per fine-tuning update (mini-batches drawn without replacement from the T shots).
BATCH_SIZE = 4


@dataclass
class FinetuneOptions:
    """What ``headshot finetune`` asks for.

    Attributes:
        shots: image files of the new person (one face each; the largest face is used).
        output: person file to write.
        steps: optimisation steps (None: ``finetune_steps`` epochs over the shots, from the model's
            training config, default 40 as in the paper).
        model: base model file (None: the bundled default model).
        device: ``cpu`` or ``cuda``.
        feed_forward: write the FF person (ψ = P·ê only), no optimisation.
        lr: Adam learning rate of G′ and ψ′ (None: the training config's ``finetune_lr``); D′ uses 4× it
            (the paper's G:D learning-rate ratio).
        seed: seed of the mini-batch order.
    """

    shots: list[Path]
    output: Path
    steps: int | None = None
    model: Path | None = None
    device: str = "cpu"
    feed_forward: bool = False
    lr: float | None = None
    seed: int = 0


def crop_shots(images: list[np.ndarray], size: int, what: list[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Detect the largest face in each RGB uint8 image and crop it like ``headshot prepare``.

    Returns crops ``(T, size, size, 3)`` RGB uint8 and landmarks ``(T, 478, 3)`` in crop pixels.
    Raises :class:`~headshot.errors.NoFaceError` naming the image without a face.
    """
    crops, points = [], []
    with FaceAnalyzer(video=False, max_faces=1) as analyzer:
        for index, image in enumerate(images):
            name = what[index] if what else f"shot {index}"
            face = analyzer.detect_one(image, what=name)
            box = clip_crop_box(face.landmarks[None])
            crops.append(cut_crop(image, box, size))
            points.append(box.to_crop(face.landmarks, size))
    return np.stack(crops), np.stack(points).astype(np.float32)


def train_config_of(model_file: ModelFile) -> TrainConfig:
    """The training configuration recorded in a model file (defaults for what it lacks)."""
    return TrainConfig.from_dict(model_file.metadata.get("train_config"), strict=False)


def default_steps(cfg: TrainConfig, shots: int) -> int:
    """``finetune_steps`` epochs (the paper's 40) over ``shots`` shots in mini-batches of
    ``min(BATCH_SIZE, shots)``: every epoch is ``ceil(shots / batch)`` updates, so T = 1 gets 40 updates
    of its one shot and T = 8 gets 80 updates of 4 (at least 1)."""
    batch = max(1, min(BATCH_SIZE, shots))
    return max(1, cfg.finetune_steps * -(-max(shots, 1) // batch))


def _tensors(crops: np.ndarray, landmarks: np.ndarray, sketch_kind: str) -> tuple[torch.Tensor, torch.Tensor]:
    sketches = draw_sketches(landmarks, crops.shape[1], sketch_kind)
    return torch.stack([to_tensor(c) for c in crops]), torch.stack([to_tensor(s) for s in sketches])


def _load_networks(model_file: ModelFile, device: torch.device):
    cfg = model_file.config
    if "embedder" not in model_file.states:
        raise InputError("the base model has no embedder: fine-tune from a model file of headshot train")
    embedder = model_file.load_into("embedder", Embedder(cfg)).to(device).eval()
    generator = model_file.load_into(model_file.generator_name() or "generator", Generator(cfg)).to(device)
    discriminator = None
    if "discriminator" in model_file.states:
        num_videos = model_file.states["discriminator"]["W"].shape[1]
        discriminator = model_file.load_into("discriminator", Discriminator(cfg, num_videos)).to(device)
    return embedder, generator, discriminator


@torch.no_grad()
def embed_shots(embedder, frames: torch.Tensor, sketches: torch.Tensor) -> torch.Tensor:
    """ê = mean over the shots of E(x, y): frames/sketches ``(T, 3, S, S)`` in [-1, 1] -> ``(D,)``."""
    return embedder(frames[None], sketches[None])[0]


def finetune_networks(model_file: ModelFile, crops: np.ndarray, landmarks: np.ndarray, steps: int, lr: float,
                      device: str | torch.device = "cpu", seed: int = 0, batch_size: int = BATCH_SIZE,
                      train_cfg: TrainConfig | dict | None = None) -> dict:
    """The paper's FT on shots already cropped to the model's size.

    Args:
        model_file: a loaded base model (:func:`headshot.neural.checkpoint.load_model`).
        crops: ``(T, S, S, 3)`` RGB uint8 with ``S`` the model's ``image_size``.
        landmarks: ``(T, 478, 3)`` crop pixels.
        steps: updates of G′ (each preceded by one of D′); 0 gives the FF result.
        lr: Adam learning rate of G′ and ψ′; D′ uses 4×.
        train_cfg: loss weights and Adam betas (a :class:`TrainConfig` or a mapping of its keys); None: the
            defaults.

    Returns ``{"generator": G′, "psi": ψ′ (psi_dim,), "embedding": ê (D,), "losses": [float per step]}``.
    """
    device = torch.device(device)
    cfg = train_cfg if isinstance(train_cfg, TrainConfig) else TrainConfig.from_dict(train_cfg)
    embedder, generator, discriminator = _load_networks(model_file, device)
    size = model_file.config.image_size
    if crops.shape[1:3] != (size, size):
        raise ValueError(f"crops must be {size}x{size} for this model, got {crops.shape[1:3]}")
    frames, sketches = _tensors(crops, landmarks, model_file.config.sketch)
    frames, sketches = frames.to(device), sketches.to(device)
    guides = None
    if model_file.config.generator_input == "warp-guided":
        guides = torch.stack([to_tensor(g) for g in shot_guides(crops, landmarks, seed)]).to(device)
    embedding = embed_shots(embedder, frames, sketches)
    psi = torch.nn.Parameter(generator.adain_params(embedding[None]).detach()[0].clone())
    losses: list[float] = []
    if steps > 0:
        shots = _Shots(frames, sketches, guides, batch_size, seed)
        losses = _tune(generator, discriminator, psi, embedding, shots, steps, lr, cfg)
    return {"generator": generator, "psi": psi.detach(), "embedding": embedding.detach(), "losses": losses}


# T = 1 round trip: the one shot is warped to its landmarks moved by a random similarity (these bounds) and back.
ROUND_TRIP_ROTATION_DEG = 8.0
ROUND_TRIP_SCALE = 0.05
ROUND_TRIP_SHIFT = 0.03


def shot_guides(crops: np.ndarray, landmarks: np.ndarray, seed: int = 0) -> list[np.ndarray]:
    """The warp guide of every shot for fine-tuning a warp-guided model: never the shot itself.

    As at inference, the guide is the warp engine's rendering at the shot's landmarks with the shot as the
    driver frame, drawn from every *other* shot (leave one out): the reference is shot 0 (shot 1 for shot
    0's own guide) and the rest are its extra views (:mod:`headshot.render.multishot`, as the neural
    engine's guide with several photos). With one shot (T = 1) a self-guide would be the target
    itself (G would learn to copy it): its guide is a round trip instead, the shot warped to its landmarks
    moved by a random similarity (±8°, ±5 % scale, ±3 % shift) and that rendering warped back, so the guide
    carries the warp's real resampling and disocclusion errors but not the target's pixels unchanged.
    """
    count = len(crops)
    if count > 1:
        return [_leave_one_out_guide(crops, landmarks, i) for i in range(count)]
    rng = np.random.default_rng(seed)
    size = crops.shape[1]
    angle = np.deg2rad(rng.uniform(-ROUND_TRIP_ROTATION_DEG, ROUND_TRIP_ROTATION_DEG))
    scale = 1.0 + rng.uniform(-ROUND_TRIP_SCALE, ROUND_TRIP_SCALE)
    shift = rng.uniform(-ROUND_TRIP_SHIFT, ROUND_TRIP_SHIFT, 2) * size
    rotation = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]], np.float32)
    moved = landmarks[0].copy()
    centre = np.full(2, size / 2, np.float32)
    moved[:, :2] = (landmarks[0][:, :2] - centre) @ rotation.T + centre + shift
    moved[:, 2] = landmarks[0][:, 2] * scale
    away = warp_guide(crops[0], landmarks[0], moved)
    return [warp_guide(away, moved, landmarks[0])]


def _leave_one_out_guide(crops: np.ndarray, landmarks: np.ndarray, index: int) -> np.ndarray:
    from ..render.multishot import MultiShotWarpEngine

    reference = 1 if index == 0 else 0
    engine = MultiShotWarpEngine()
    engine.prepare(crops[reference], landmarks[reference])
    engine.prepare_shots([(crops[i], landmarks[i]) for i in range(len(crops)) if i not in (index, reference)])
    return engine.render(landmarks[index], crops[index], landmarks[index])


class _Shots:
    """Mini-batches of the shots: ``(target, sketch, guide)``, drawn in a seeded random order."""

    def __init__(self, frames, sketches, guides, batch_size: int, seed: int):
        self.frames, self.sketches, self.guides = frames, sketches, guides
        self.batch_size = min(batch_size, frames.shape[0])
        self.rng = torch.Generator().manual_seed(seed)

    def draw(self):
        pick = torch.randperm(self.frames.shape[0], generator=self.rng)[:self.batch_size].to(self.frames.device)
        guide = None if self.guides is None else self.guides[pick]
        return self.frames[pick], self.sketches[pick], guide


def _tune(generator, discriminator, psi, embedding, shots: _Shots, steps: int, lr: float,
          cfg: TrainConfig) -> list[float]:
    """``steps`` updates of D′ (trunk, b and w′ = w₀ + ê) and G′ with ψ′; returns G′'s loss per step."""
    loss = build_loss(cfg, embedding_match=False).to(embedding.device)  # a new person has no column of W
    generator.train()
    opt_g = torch.optim.Adam(list(generator.parameters()) + [psi], lr=lr, betas=cfg.betas)
    opt_d = critic = frozen_critic = None
    if discriminator is not None:
        discriminator.train()
        w = torch.nn.Parameter((discriminator.w0 + embedding).detach().clone())
        trunk = list(discriminator.trunk.parameters()) + [discriminator.b]
        opt_d = torch.optim.Adam(trunk + [w], lr=4 * lr, betas=cfg.betas)

        def critic(images, sketches):  # D′: D with the person's free projection vector w′
            return discriminator.forward_with_w(images, sketches, w[None])

        def frozen_critic(images, sketches):  # w′ is not one of D's parameters: freezing D leaves it free
            return discriminator.forward_with_w(images, sketches, w[None].detach())
    update = AdversarialUpdate(loss, opt_g, opt_d, discriminator)
    losses = []
    for _ in range(steps):
        target, sketch, guide = shots.draw()

        def run(parts: bool) -> torch.Tensor:
            return generator.forward_with_psi(sketch, psi[None], guide, parts)

        # D′ judges the output or, with adversarial_target 'painting', G′'s painting (as in meta-learning)
        if discriminator is not None:
            with torch.no_grad():
                _, judged = generate(run, guide, cfg.adversarial_target)
            update.dis_update(critic, target, judged, sketch)
        fake, judged = generate(run, guide, cfg.adversarial_target)
        terms = update.gen_update(frozen_critic, fake, target, sketch, judged=judged)
        losses.append(float(terms.total.detach()))
    generator.eval()
    return losses


def finetune_engine(engine: NeuralEngine, shots: list[tuple[np.ndarray, np.ndarray]], steps: int | None = None,
                    lr: float | None = None, seed: int = 0) -> list[float]:
    """The paper's FT in memory: fine-tune a prepared engine's base model on ``shots`` = ``[(crop RGB uint8,
    landmarks (478, 3) in its pixels), ...]`` of the person it renders and hand it the tuned G′ and ψ′
    (:meth:`NeuralEngine.set_person`); it renders with them afterwards.

    ``steps`` None: the base model's ``finetune_steps`` epochs (default 40, the paper's) over the shots in
    mini-batches of :data:`BATCH_SIZE`; ``lr`` None: its ``finetune_lr``. Returns the loss per step.
    Raises :class:`InputError` before :meth:`NeuralEngine.prepare`, for a model without an embedder and
    for no shots.
    """
    if not engine.prepared:
        raise InputError("call prepare() before fine-tuning the engine")
    base = engine.base_model
    if base is None or "embedder" not in base.states:
        raise InputError("fine-tuning needs a base model file with an embedder (from headshot train)")
    if not shots:
        raise InputError("fine-tuning needs at least one shot")
    crops, landmarks = engine.shots_at_model_size(shots)
    cfg = train_config_of(base)
    steps = default_steps(cfg, len(crops)) if steps is None else int(steps)
    lr = cfg.finetune_lr if lr is None else float(lr)
    result = finetune_networks(base, crops, landmarks, steps, lr, engine.device, seed, train_cfg=cfg)
    engine.set_person(result["generator"], result["psi"], result["embedding"])
    return list(result["losses"])


def finetune_person(options: FinetuneOptions) -> dict:
    """Crop the shots, fine-tune (or FF) and write the person file. Returns ``{"shots", "steps", "losses"}``."""
    if not options.shots:
        raise InputError("give at least one --shots image")
    output = Path(options.output)
    if output.suffix != ".safetensors":
        raise InputError(f"the person file must end in .safetensors: {output}")
    if not output.parent.is_dir():
        raise InputError(f"output folder does not exist: {output.parent}")
    model_path = Path(options.model) if options.model else default_model_path()
    refuse_overwriting_inputs(output, [*options.shots, model_path])
    model_file = load_model(model_path)
    cfg = train_config_of(model_file)
    images = [read_image(path) for path in options.shots]
    crops, landmarks = crop_shots(images, model_file.config.image_size, [str(p) for p in options.shots])
    steps = 0
    if not options.feed_forward:
        steps = int(options.steps) if options.steps is not None else default_steps(cfg, len(crops))
    lr = float(options.lr if options.lr is not None else cfg.finetune_lr)
    result = finetune_networks(model_file, crops, landmarks, steps, lr, options.device, options.seed, train_cfg=cfg)
    entries: dict = {"psi": result["psi"], "embedding": result["embedding"]}
    if steps > 0:
        entries["generator"] = result["generator"]
    extra = {"kind": "person-ft" if steps else "person-ff", "base_model": str(model_path), "shots": len(crops),
             "steps": steps, "lr": lr}
    save_model(output, entries, model_file.config, extra)
    return {"shots": len(crops), "steps": steps, "losses": result["losses"]}
