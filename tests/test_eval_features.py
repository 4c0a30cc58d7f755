"""Network features: MobileNetV2 perceptual distance, BN folding, pooled FID features, LPIPS loading."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from headshot.errors import InputError
from headshot.eval import features


@pytest.fixture(scope="module")
def crops(astronaut):
    crop = cv2.resize(astronaut, (256, 256), interpolation=cv2.INTER_AREA)
    slightly = cv2.GaussianBlur(crop, (0, 0), 1.0)
    strongly = cv2.GaussianBlur(crop, (0, 0), 4.0)
    return crop, slightly, strongly


@pytest.fixture(scope="module")
def model():
    return features.MobileNetV2Metrics(batch_size=4)


def test_perceptual_distance_is_zero_for_identical_and_grows_with_blur(model, crops):
    crop, slightly, strongly = crops
    taps_ref, _ = model.encode([crop, crop, crop])
    taps_out, _ = model.encode([crop, slightly, strongly])
    same, small, large = model.distance(taps_out, taps_ref)
    assert same == pytest.approx(0.0, abs=1e-6)
    assert 0 < small < large


def test_distance_wrapper_matches_two_encodings(crops):
    crop, slightly, _ = crops
    values = features.MobileNetV2Distance()([crop, slightly], [crop, crop])
    assert values[0] == pytest.approx(0.0, abs=1e-6) and values[1] > 0


def test_folded_batch_norm_network_matches_the_original():
    from headshot.neural.mobilenet import MobileNetV2Features

    plain = MobileNetV2Features(taps=(3, 18))
    folded = features.fold_batch_norms(MobileNetV2Features(taps=(3, 18)))
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    x = torch.rand(2, 3, 96, 96) * 2 - 1
    with torch.inference_mode():
        for a, b in zip(plain(x), folded(x)):
            assert torch.allclose(a, b, rtol=1e-4, atol=1e-4 * float(a.abs().max()))


def test_compiled_encoder_matches_the_eager_network_for_any_batch(model, crops):
    from headshot.neural.mobilenet import DEFAULT_TAPS, MobileNetV2Features

    eager = MobileNetV2Features(taps=(*DEFAULT_TAPS, 18))
    images = list(crops) + [crops[0][::-1].copy()]
    taps, pooled = model.encode(images)  # batch size 4 with one left over is not needed: vary below
    single_taps, single_pooled = model.encode(images[:1])
    with torch.inference_mode():
        reference = eager(features._to_network_input(images))
    assert np.allclose(pooled, reference[-1].mean(dim=(2, 3)).numpy(), atol=1e-3)
    assert np.allclose(single_pooled[0], pooled[0], atol=1e-3)
    assert torch.allclose(taps[0], features._unit_normalise(reference[0]), atol=1e-3)


def test_pooled_features_are_1280_d_and_separate_different_images(model, crops):
    crop, _, strongly = crops
    _, pooled = model.encode([crop, crop, strongly])
    assert pooled.shape == (3, 1280) and pooled.dtype == np.float32
    assert np.allclose(pooled[0], pooled[1], atol=1e-5)
    assert np.abs(pooled[0] - pooled[2]).max() > 1e-2


def _vgg_state(seed: int = 0) -> dict:
    generator = torch.Generator().manual_seed(seed)
    state = {}
    for module_index, (key, module) in enumerate(features._vgg16_features().state_dict().items()):
        state[f"features.{key}"] = torch.randn(module.shape, generator=generator) * 0.05
    for index, channels in enumerate((64, 128, 256, 512, 512)):
        state[f"lin{index}.model.1.weight"] = torch.rand((1, channels, 1, 1), generator=generator)
    return state


def test_lpips_from_a_user_weights_file(tmp_path, crops):
    crop, slightly, strongly = crops
    path = tmp_path / "lpips_vgg.pth"
    torch.save(_vgg_state(), path)
    lpips = features.LPIPS(path)
    assert lpips.name == "LPIPS (VGG16)"
    small_crops = [cv2.resize(image, (64, 64)) for image in (crop, slightly, strongly)]
    values = lpips([small_crops[0], small_crops[1], small_crops[2]], [small_crops[0]] * 3)
    assert values[0] == pytest.approx(0.0, abs=1e-6)
    assert values[1] > 0 and values[2] > 0


def test_lpips_rejects_missing_or_foreign_files(tmp_path):
    with pytest.raises(InputError, match="not found"):
        features.LPIPS(tmp_path / "absent.pth")
    foreign = tmp_path / "foreign.pth"
    torch.save({"something.weight": torch.zeros(3)}, foreign)
    with pytest.raises(InputError, match="backbone"):
        features.LPIPS(foreign)
    partial = tmp_path / "partial.pth"
    state = _vgg_state()
    del state["lin4.model.1.weight"]
    torch.save(state, partial)
    with pytest.raises(InputError, match="lin4"):
        features.LPIPS(partial)
