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
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import InputError


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
    from ..face.landmarker import FaceAnalyzer
    from .prepare import clip_crop_box, cut_crop, to_crop_pixels

    crops, points = [], []
    with FaceAnalyzer(video=False, max_faces=1) as analyzer:
        for index, image in enumerate(images):
            name = what[index] if what else f"shot {index}"
            face = analyzer.detect_one(image, what=name)
            box = clip_crop_box(face.landmarks[None])
            crops.append(cut_crop(image, box, size))
            points.append(to_crop_pixels(face.landmarks, box, size))
    return np.stack(crops), np.stack(points).astype(np.float32)


def _tensors(crops: np.ndarray, landmarks: np.ndarray, sketch_kind: str) -> tuple[torch.Tensor, torch.Tensor]:
    from .dataset import _to_tensor, draw_sketches

    size = crops.shape[1]
    sketches = draw_sketches(landmarks, size, sketch_kind)
    return (torch.stack([_to_tensor(c) for c in crops]), torch.stack([_to_tensor(s) for s in sketches]))


def _load_networks(model_file, device: torch.device):
    from ..neural.discriminator import Discriminator
    from ..neural.embedder import Embedder
    from ..neural.generator import Generator

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


def finetune_networks(model_file, crops: np.ndarray, landmarks: np.ndarray, steps: int, lr: float,
                      device: str | torch.device = "cpu", seed: int = 0, batch_size: int = 4,
                      train_cfg: dict | None = None) -> dict:
    """The paper's FT on shots already cropped to the model's size.

    Args:
        model_file: a loaded base model (:func:`headshot.neural.checkpoint.load_model`).
        crops: ``(T, S, S, 3)`` RGB uint8 with ``S`` the model's ``image_size``.
        landmarks: ``(T, 478, 3)`` crop pixels.
        steps: updates of G′ (each preceded by one of D′); 0 gives the FF result.
        lr: Adam learning rate of G′ and ψ′; D′ uses 4×.
        train_cfg: loss weights (``neural.config.DEFAULT_TRAIN`` keys); None: the defaults.

    Returns ``{"generator": G′, "psi": ψ′ (psi_dim,), "embedding": ê (D,), "losses": [float per step]}``.
    """
    from ..neural.config import DEFAULT_TRAIN, LossWeights
    from ..neural.losses import ContentLoss, ZakharovLoss

    device = torch.device(device)
    cfg = dict(DEFAULT_TRAIN)
    cfg.update(train_cfg or {})
    embedder, generator, discriminator = _load_networks(model_file, device)
    size = model_file.config.image_size
    if crops.shape[1:3] != (size, size):
        raise ValueError(f"crops must be {size}x{size} for this model, got {crops.shape[1:3]}")
    frames, sketches = _tensors(crops, landmarks, model_file.config.sketch)
    frames, sketches = frames.to(device), sketches.to(device)
    guides = None
    if model_file.config.generator_input == "warp-guided":
        # As in training: the guide is the warp engine's rendering of shot 0 at each shot's landmarks.
        from .dataset import _to_tensor, warp_guide

        guides = torch.stack([_to_tensor(warp_guide(crops[0], landmarks[0], landmarks[i]))
                              for i in range(len(crops))]).to(device)
    embedding = embed_shots(embedder, frames, sketches)
    psi = torch.nn.Parameter(generator.adain_params(embedding[None]).detach()[0].clone())
    losses: list[float] = []
    if steps > 0:
        weights = LossWeights.from_train(cfg)
        weights.embedding_match = 0.0  # no W column for a new person: the paper's FT has no L_MCH
        content = ContentLoss(str(cfg["content_network"]), weights, cfg.get("vgg19_weights"),
                              cfg.get("vggface_weights")) if weights.content_mobilenet else None
        loss = ZakharovLoss(weights, content).to(device)
        generator.train()
        opt_g = torch.optim.Adam(list(generator.parameters()) + [psi], lr=lr, betas=tuple(cfg["betas"]))
        if discriminator is not None:
            discriminator.train()
            w = torch.nn.Parameter((discriminator.w0 + embedding).detach().clone())
            trunk = list(discriminator.trunk.parameters()) + [discriminator.b]
            opt_d = torch.optim.Adam(trunk + [w], lr=4 * lr, betas=tuple(cfg["betas"]))
        generator_rng = torch.Generator().manual_seed(seed)
        count = frames.shape[0]
        for _ in range(steps):
            pick = torch.randperm(count, generator=generator_rng)[:min(batch_size, count)].to(device)
            target, sketch = frames[pick], sketches[pick]
            guide = None if guides is None else guides[pick]
            if discriminator is not None:
                with torch.no_grad():
                    fake = generator.forward_with_psi(sketch, psi[None], guide)
                scores, _ = discriminator.forward_with_w(torch.cat([target, fake]), torch.cat([sketch, sketch]),
                                                         w[None])
                real_scores, fake_scores = scores.chunk(2)
                d_loss = loss.discriminator(real_scores, fake_scores)
                opt_d.zero_grad(set_to_none=True)
                d_loss.backward()
                opt_d.step()
            fake = generator.forward_with_psi(sketch, psi[None], guide)
            if discriminator is not None:
                discriminator.requires_grad_(False)
                scores, activations = discriminator.forward_with_w(
                    torch.cat([fake, target]), torch.cat([sketch, sketch]), w[None].detach())
                discriminator.requires_grad_(True)
                n = fake.shape[0]
                terms = loss.generator(fake, target, scores[:n], [a[n:] for a in activations],
                                       [a[:n] for a in activations])
            else:
                terms = loss.generator(fake, target)
            opt_g.zero_grad(set_to_none=True)
            terms.total.backward()
            opt_g.step()
            losses.append(float(terms.total.detach()))
        generator.eval()
    return {"generator": generator, "psi": psi.detach(), "embedding": embedding.detach(), "losses": losses}


def finetune_person(options: FinetuneOptions) -> dict:
    """Crop the shots, fine-tune (or FF) and write the person file. Returns ``{"shots", "steps", "losses"}``."""
    from ..io.atomic import refuse_overwriting_inputs
    from ..io.images import read_image
    from ..neural.checkpoint import load_model, save_model
    from ..neural.engine import default_model_path

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
    train_cfg = model_file.metadata.get("train_config") or {}
    images = [read_image(path) for path in options.shots]
    crops, landmarks = crop_shots(images, model_file.config.image_size, [str(p) for p in options.shots])
    steps = 0
    if not options.feed_forward:
        epochs = int(train_cfg.get("finetune_steps", 40))
        batch_size = 4
        steps = int(options.steps) if options.steps is not None else max(1, epochs * len(crops) // batch_size)
    lr = float(options.lr if options.lr is not None else train_cfg.get("finetune_lr", 5e-5))
    result = finetune_networks(model_file, crops, landmarks, steps, lr, options.device, options.seed,
                               train_cfg=train_cfg)
    entries: dict = {"psi": result["psi"], "embedding": result["embedding"]}
    if steps > 0:
        entries["generator"] = result["generator"]
    extra = {"kind": "person-ft" if steps else "person-ff", "base_model": str(model_path), "shots": len(crops),
             "steps": steps, "lr": lr}
    save_model(output, entries, model_file.config, extra)
    return {"shots": len(crops), "steps": steps, "losses": result["losses"]}
