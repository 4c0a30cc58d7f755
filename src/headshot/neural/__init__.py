"""The few-shot adversarial talking-head system of Zakharov et al. (ICCV 2019).

- ``config``: ``ModelConfig`` (architecture, saved in every model file) and ``load_config(yaml)``.
- ``embedder.Embedder`` E(x, y) -> e; ``generator.Generator`` G(y, e) with AdaIN parameters ``psi = P e``;
  ``discriminator.Discriminator`` D(x, y, i) with one projection column W_i per training video.
- ``losses``: content (MobileNetV2 by default; VGG19/VGGFace from user files), hinge, feature matching,
  embedding match.
- ``sketch.draw_sketch``: the landmark sketch all three networks see.
- ``checkpoint``: safetensors model files with their config (no pickle).
- ``engine.NeuralEngine``: the render engine used by ``headshot animate --engine neural``.

Submodules import torch; this package file does not, so ``import headshot.neural`` stays cheap.
"""
