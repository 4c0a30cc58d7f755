"""The YAML configuration: every shipped config loads, and typos or wrong types in ``train:`` are one-line errors."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from headshot.neural.config import ConfigError, LossWeights, TrainConfig, load_config

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
SHIPPED = sorted(CONFIGS.glob("*.yaml"))


def test_configs_are_shipped():
    assert {path.stem for path in SHIPPED} >= {"tiny", "default_cpu", "landmarks", "warp_guided", "paper_256"}


@pytest.mark.parametrize("path", SHIPPED, ids=lambda path: path.stem)
def test_every_shipped_config_loads(path):
    model, train = load_config(path)
    assert isinstance(train, TrainConfig)
    assert train.shots >= 1 and train.batch_size >= 1 and train.steps >= 1
    assert TrainConfig.from_dict(train.to_dict()) == train  # what a run folder records reads back


def test_unknown_train_key_names_it_and_the_valid_ones(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("train:\n  shots: 2\n  lr_generater: 1.0e-4\n")
    with pytest.raises(ConfigError) as error:
        load_config(bad)
    message = str(error.value)
    assert "\n" not in message
    assert "'lr_generater'" in message and "lr_generator" in message and "batch_size" in message
    assert str(bad) in message


def test_train_values_are_typed(tmp_path):
    config = tmp_path / "typed.yaml"
    config.write_text("train:\n  steps: 10\n  lr_generator: 1e-3\n  checkpoint_minutes: 5\n  betas: [0.0, 0.9]\n")
    _, train = load_config(config)
    assert train.steps == 10 and isinstance(train.steps, int)
    assert train.lr_generator == 1e-3  # YAML 1.1 reads "1e-3" as text
    assert train.checkpoint_minutes == 5.0 and train.betas == (0.0, 0.9)
    for text, key in (("steps: lots", "steps"), ("steps: 2.5", "steps"), ("augment: 1", "augment"),
                      ("betas: [0.5]", "betas"), ("content_network: 3", "content_network")):
        config.write_text(f"train:\n  {text}\n")
        with pytest.raises(ConfigError, match=key):
            load_config(config)


def test_updates_are_checked_and_model_file_configs_are_lenient():
    train = TrainConfig()
    assert train.updated({"steps": 3}).steps == 3 and train.steps == 100000
    with pytest.raises(ConfigError, match="'stpes'"):
        train.updated({"stpes": 3})
    # the train_config recorded in a model file from another version: unknown keys are ignored there
    assert TrainConfig.from_dict({"finetune_steps": 7, "future_key": 1}, strict=False).finetune_steps == 7


def test_loss_weight_defaults_are_defined_once():
    weights = TrainConfig().loss_weights()
    assert weights == LossWeights()
    assert dataclasses.replace(TrainConfig(), l1_weight=1.0).loss_weights().l1 == 1.0
