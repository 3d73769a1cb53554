"""Margin geometry: each loss's boundary from its own logits against the closed forms, and the
figures (`audiocs plot-margins`, the cosine distributions)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from audiocs.cli import main
from audiocs.losses import create_loss
from audiocs.losses.geometry import (boundary, logit_gap, parse_loss_spec,
                                     plot_cosine_distributions, plot_margins)

PNG = b"\x89PNG\r\n\x1a\n"
X = np.linspace(-0.6, 0.6, 13)


def test_boundaries_match_the_closed_forms() -> None:
    step = 1.001 * 2.0 / 4000  # the grid of `boundary`
    # normalized softmax: the diagonal; AM-Softmax: shifted up by the margin
    assert boundary(create_loss("norm_softmax"), X) == pytest.approx(X, abs=step)
    assert boundary(create_loss("am_softmax", margin=0.2), X) == pytest.approx(X + 0.2, abs=step)
    # ArcFace: theta_y + m = theta_other, i.e. y = cos(arccos(x) - m)
    arc = boundary(create_loss("aam_softmax", margin=0.3), X)
    assert arc == pytest.approx(np.cos(np.arccos(X) - 0.3), abs=step)
    # CS-Softmax at lam = 1 (Circle): (y - 1)^2 + x^2 = 2 m^2 (the spec's property), upper arc
    m = 0.25
    x = np.linspace(-0.2, 0.3, 6)  # the circle holds where s_n > -m
    circle = boundary(create_loss("cs_softmax", margin=m, weight_update=1.0), x)
    assert circle == pytest.approx(1 - np.sqrt(2 * m * m - x * x), abs=step)
    # CS-Softmax at lam = 0: AM-Softmax with margin 1 - 2m
    lam0 = boundary(create_loss("cs_softmax", margin=0.4, weight_update=0.0), X)
    assert lam0 == pytest.approx(X + 0.2, abs=step)


def test_logit_gap_is_the_losses_own_and_leaves_a_softmax_state_alone() -> None:
    loss = create_loss("a_softmax", margin=4)
    before = int(loss.iteration)
    gap = logit_gap(loss, np.array([0.1, 0.2]), np.array([0.5, 0.9]))
    assert gap.shape == (2,) and int(loss.iteration) == before
    # A-Softmax at the end of its annealing (lambda = lambda_min) is what the figure draws
    label, final = parse_loss_spec("a_softmax:margin=2")
    assert label == "a_softmax (margin=2)" and final.current_lambda == final.lambda_min
    lam = final.lambda_min
    # boundary: (lam y + psi(y)) / (1 + lam) = x with psi(y) = cos(2 theta) = 2y^2 - 1 (theta < pi/2)
    y = boundary(final, np.array([0.3]))[0]
    assert (lam * y + 2 * y * y - 1) / (1 + lam) == pytest.approx(0.3, abs=2e-3)
    with pytest.raises(ValueError):
        parse_loss_spec("am_softmax:margin")


def test_plot_margins_cli_and_distributions(tmp_path: Path) -> None:
    out = tmp_path / "margins.png"
    assert main(["plot-margins", "softmax", "am_softmax:margin=0.2",
                 "cs_softmax:margin=0.25,weight_update=0.5", "--out", str(out)]) == 0
    assert out.read_bytes()[:8] == PNG
    assert main(["plot-margins", "no_such_loss", "--out", str(tmp_path / "x.png")]) == 2
    assert not (tmp_path / "x.png").exists()
    rng = np.random.default_rng(0)
    groups = [(name, rng.normal(0.7, 0.1, 50), rng.normal(0.0, 0.2, 450))
              for name in ("softmax", "cs_softmax")]
    path = plot_cosine_distributions(groups, tmp_path / "cos.png", title="test")
    assert path.read_bytes()[:8] == PNG
    direct = plot_margins([parse_loss_spec("circle:margin=0.25")], tmp_path / "c.png")
    assert direct.stat().st_size > 10_000 and math.isfinite(direct.stat().st_size)
