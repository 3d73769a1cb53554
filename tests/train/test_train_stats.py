"""The per-epoch cosine statistics (audiocs.train.stats) and the CS-Softmax ramp's zero point."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from helpers import write_config

from audiocs.losses import ASoftmax, CSSoftmax, NormSoftmax, create_loss
from audiocs.train.schedules import MarginSchedule
from audiocs.train.stats import STAT_KEYS, cosine_sums, epoch_means, training_logits


def test_cosine_sums_against_a_hand_computed_batch() -> None:
    weights = torch.tensor([[1.0, 0.0], [0.0, 2.0], [-3.0, 0.0]])  # unit directions 0, 90, 180 deg
    emb = torch.tensor([[2.0, 0.0], [1.0, 1.0]])  # cosines (1, 0, -1) and (.707, .707, -.707)
    labels = torch.tensor([0, 1])
    logits = torch.tensor([[3.0, 1.0, 2.0], [0.0, -1.0, 0.5]])
    sums = cosine_sums(emb, weights, logits, labels)
    r = 2 ** -0.5
    expected = [1.0 + r, (0.0 - 1.0) / 2 + (r - r) / 2, 0.0 + r, (3.0 - 2.0) + (-1.0 - 0.5)]
    assert sums == pytest.approx(expected, abs=1e-6)
    means = epoch_means(sums, 2)
    assert list(means) == list(STAT_KEYS)
    assert means["logit_gap"] == pytest.approx(-0.25)


def test_cosine_sums_use_the_weight_directions_only() -> None:
    torch.manual_seed(0)
    emb, w = torch.randn(6, 4), torch.randn(3, 4)
    y, z = torch.randint(0, 3, (6,)), torch.randn(6, 3)
    a = cosine_sums(emb, w, z, y)
    b = cosine_sums(5.0 * emb, w * torch.tensor([[0.1], [7.0], [2.0]]), z, y)
    assert a == pytest.approx(b, abs=1e-5)


def test_training_logits_leave_a_softmax_counter_alone() -> None:
    loss = ASoftmax()
    cos, y = torch.rand(4, 3) * 2 - 1, torch.tensor([0, 1, 2, 0])
    before = int(loss.iteration)
    z = training_logits(loss, cos, y)
    assert int(loss.iteration) == before and loss.training
    torch.testing.assert_close(z, loss.logits(cos, y))  # the same logits (this call counts)


@pytest.mark.parametrize("lam", [0.25, 0.5, 1.0])
def test_cs_softmax_ramp_starts_at_normalized_softmax(lam: float) -> None:
    cos, y = torch.rand(8, 5) * 2 - 1, torch.randint(0, 5, (8,))
    cs = CSSoftmax(scale=20.0, margin=0.2, weight_update=lam)
    cs.ramp_margin(0.0)
    assert (cs.margin, cs.weight_update) == (0.5, 0.0)
    # the softmax of z is that of normalized softmax: equal up to a common shift of every logit
    diff = cs.logits(cos, y) - NormSoftmax(scale=20.0).logits(cos, y)
    torch.testing.assert_close(diff, diff[:, :1].expand_as(diff))
    cs.ramp_margin(0.5)
    assert cs.margin == pytest.approx(0.35) and cs.weight_update == pytest.approx(lam / 2)
    cs.ramp_margin(1.0)
    assert (cs.margin, cs.weight_update) == (pytest.approx(0.2), pytest.approx(lam))


def test_margin_only_ramp_of_lam_positive_keeps_a_margin_at_its_start() -> None:
    """Why the ramp moves lam too: at m = 0.5 alone, lam > 0 still separates z_y from z_j."""
    cs = CSSoftmax(scale=30.0, margin=0.5, weight_update=0.5)
    z = cs.logits(torch.zeros(1, 4), torch.tensor([0]))
    assert float(z[0, 0] - z[0, 1]) == pytest.approx(-30.0 * 0.5 / 2)


def test_schedule_ramps_weight_update_and_resume_restores_it() -> None:
    cs = create_loss("cs_softmax", margin=0.1, weight_update=0.8)
    schedule = MarginSchedule(cs, start_epoch=1, ramp_epochs=2)
    schedule.step(2.0)
    assert cs.weight_update == pytest.approx(0.4) and cs.margin == pytest.approx(0.3)
    fresh = create_loss("cs_softmax", margin=0.1, weight_update=0.8)
    MarginSchedule(fresh, start_epoch=1, ramp_epochs=2).load_state_dict(schedule.state_dict())
    assert (fresh.margin, fresh.weight_update) == pytest.approx((0.3, 0.4))


@pytest.mark.parametrize("loss", [{"name": "softmax", "scale": None, "margin": None},
                                  {"name": "cs_softmax"}])
def test_training_logs_the_cosine_statistics(tmp_path: Path, tone_cache: Path, loss: dict) -> None:
    from audiocs.config import load_config
    from audiocs.evaluate import evaluate_experiment
    from audiocs.train.loop import train

    config = write_config(tmp_path / "c.yaml", tone_cache, loss=loss,
                          data={"test_folds": [5]},
                          augment={"mixup_alpha": 0.0}, train={"epochs": 3},
                          margin_schedule={"start_epoch": 0, "ramp_epochs": 0})
    train(load_config(config), tmp_path / "exp")
    history = [json.loads(line) for line in (tmp_path / "exp" / "metrics.jsonl").read_text().splitlines()]
    assert len(history) == 3
    for record in history:
        assert -1 <= record["cos_nontarget"] <= record["cos_nontarget_max"] <= 1
        assert -1 <= record["cos_target"] <= 1
    # the tones are easy: the target cosine grows and ends above the mean non-target cosine
    assert history[-1]["cos_target"] > history[0]["cos_target"]
    assert history[-1]["cos_target"] > history[-1]["cos_nontarget"]
    assert history[-1]["logit_gap"] > history[0]["logit_gap"]
    evaluate_experiment(tmp_path / "exp", split="valid")
    assert (tmp_path / "exp" / "eval" / "curves.png").stat().st_size > 10_000


def test_plot_has_cosine_panels_only_when_logged(tmp_path: Path) -> None:
    from matplotlib.image import imread

    from audiocs.plots import plot_training_curves

    plain = [{"epoch": e, "train_loss": 1.0 / e, "train_acc": 0.1 * e} for e in (1, 2, 3)]
    stats = [{**r, **dict(zip(STAT_KEYS, (0.1 * e, 0.0, 0.2, -1.0 + e)))} for e, r in
             zip((1, 2, 3), plain)]
    a = imread(plot_training_curves(plain, tmp_path / "a.png"))
    b = imread(plot_training_curves(stats, tmp_path / "b.png"))
    assert b.shape[0] > 1.6 * a.shape[0]  # a second row of panels
