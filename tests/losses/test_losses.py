"""Losses against the spec's properties, independent closed-form references and gradcheck."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from audiocs.losses import (
    LOSSES,
    AAMSoftmax,
    AMSoftmax,
    ASoftmax,
    CircleClassLoss,
    CosineClassifier,
    CSSoftmax,
    FixedMarginError,
    LinearClassifier,
    NormSoftmax,
    Softmax,
    create_classifier,
    create_loss,
    cs_softmax_terms,
)
from audiocs.losses.classifiers import NormalizedLinear
from audiocs.losses.cs_softmax import CSSoftmaxLogits
from audiocs.losses.demo import train_on_clusters


def random_cos(b: int = 6, c: int = 5, seed: int = 0, dtype=torch.float64) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    cos = (torch.rand(b, c, generator=g, dtype=dtype) * 2 - 1) * 0.999
    labels = torch.randint(0, c, (b,), generator=g)
    return cos, labels


def reference_ce(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy written out: mean of log(sum_j exp z_j) - z_y."""
    return (torch.log(torch.exp(logits).sum(1)) - logits[torch.arange(len(labels)), labels]).mean()


def onehot(labels: torch.Tensor, c: int, dtype=torch.float64) -> torch.Tensor:
    return F.one_hot(labels, c).to(dtype)


# --- the spec's properties --------------------------------------------------------------


@pytest.mark.parametrize("m", [0.0, 0.1, 0.25, 0.4, 0.5])
def test_lam0_equals_am_softmax_with_margin_1_minus_2m(m):
    cos, y = random_cos()
    cs = CSSoftmax(scale=30, margin=m, weight_update=0.0)(cos, y)
    am = AMSoftmax(scale=30, margin=1 - 2 * m)(cos, y)
    torch.testing.assert_close(cs, am, rtol=1e-10, atol=1e-10)


def test_lam0_m05_equals_norm_softmax():
    cos, y = random_cos(seed=3)
    cs = CSSoftmax(scale=20, margin=0.5, weight_update=0.0)(cos, y)
    ns = NormSoftmax(scale=20)(cos, y)
    torch.testing.assert_close(cs, ns, rtol=1e-10, atol=1e-10)


def circle_reference(cos: torch.Tensor, labels: torch.Tensor, gamma: float, m: float) -> torch.Tensor:
    """Class-level Circle loss (Sun et al. 2020, eq. 4 with K=1 positive), written from the paper."""
    losses = []
    for i, y in enumerate(labels.tolist()):
        sp = cos[i, y]
        sn = torch.cat([cos[i, :y], cos[i, y + 1 :]])
        ap = torch.clamp(1 + m - sp.detach(), min=0)
        an = torch.clamp(sn.detach() + m, min=0)
        neg = torch.exp(gamma * an * (sn - m)).sum()
        pos = torch.exp(-gamma * ap * (sp - (1 - m)))
        losses.append(torch.log1p(neg * pos))
    return torch.stack(losses).mean()


@pytest.mark.parametrize("m", [0.1, 0.25, 0.4])
def test_lam1_equals_circle_loss(m):
    cos, y = random_cos(seed=5)
    a = cos.clone().requires_grad_()
    b = cos.clone().requires_grad_()
    ours = CSSoftmax(scale=4, margin=m, weight_update=1.0)(a, y)
    ref = circle_reference(b, y, gamma=4, m=m)
    torch.testing.assert_close(ours, ref, rtol=1e-10, atol=1e-10)
    ours.backward()
    ref.backward()
    torch.testing.assert_close(a.grad, b.grad, rtol=1e-9, atol=1e-12)
    circle = CircleClassLoss(scale=4, margin=m)(cos, y)
    torch.testing.assert_close(circle, ref, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("lam", [0.0, 0.3, 0.5, 1.0])
@pytest.mark.parametrize("m", [0.1, 0.25, 0.45])
def test_points_on_binary_decision_boundary_have_equal_logits(lam, m):
    """a_p (s_p - D_p) = a_n (s_n - D_n): solve for s_n given s_p, and check z_y == z_j."""
    s = 10.0
    sps = torch.linspace(0.05, 1.0, 12, dtype=torch.float64)
    for sp in sps.tolist():
        ap = (1 - lam) + lam * max(1 + m - sp, 0.0)
        lhs = ap * (sp - (1 - m))
        # f(sn) = a_n(sn) (sn - m) is increasing in sn on [-m, 1]: bisection for f(sn) = lhs
        lo, hi = -m, 1.0
        f = lambda sn: ((1 - lam) + lam * max(sn + m, 0.0)) * (sn - m)  # noqa: E731
        if not f(lo) <= lhs <= f(hi):
            continue
        for _ in range(200):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if f(mid) < lhs else (lo, mid)
        sn = (lo + hi) / 2
        if lam == 1.0:  # the circle (s_p - 1)^2 + s_n^2 = 2 m^2
            assert (sp - 1) ** 2 + sn**2 == pytest.approx(2 * m * m, abs=1e-9)
        cos = torch.tensor([[sp, sn]], dtype=torch.float64)
        z, _ = cs_softmax_terms(cos, torch.tensor([0]), s, m, lam)
        assert z[0, 0].item() == pytest.approx(z[0, 1].item(), abs=1e-9)


def test_circle_boundary_points_sampled_on_the_circle():
    m, s = 0.25, 8.0
    r = math.sqrt(2) * m
    for t in torch.linspace(0.05, math.pi / 2 - 0.05, 9).tolist():
        sp, sn = 1 - r * math.sin(t), r * math.cos(t)  # on the circle, s_p < 1 + m, s_n > -m
        z, _ = cs_softmax_terms(torch.tensor([[sp, sn]], dtype=torch.float64), torch.tensor([0]), s, m, 1.0)
        assert z[0, 0].item() == pytest.approx(z[0, 1].item(), abs=1e-12)


@pytest.mark.parametrize(
    "s,m,lam", [(1.0, 0.0, 0.0), (1.0, 0.5, 1.0), (5.0, 0.25, 0.5), (30.0, 0.1, 0.0), (30.0, 0.4, 1.0), (64.0, 0.5, 0.3)]
)
def test_gradcheck_cs_softmax(s, m, lam):
    """The analytic backward against finite differences, the weights a frozen at the point."""
    cos, y = random_cos(b=5, c=4, seed=int(s))
    frozen = cos.clone()
    cos.requires_grad_()

    def with_frozen_weights(c: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(CSSoftmaxLogits.apply(c, y, s, m, lam, frozen), y)

    assert torch.autograd.gradcheck(with_frozen_weights, (cos,), eps=1e-6, atol=1e-7)
    loss = CSSoftmax(scale=s, margin=m, weight_update=lam)
    torch.testing.assert_close(loss(cos, y), with_frozen_weights(cos))
    (g_loss,) = torch.autograd.grad(loss(cos, y), cos)
    (g_frozen,) = torch.autograd.grad(with_frozen_weights(cos), cos)
    torch.testing.assert_close(g_loss, g_frozen)
    # and against the formula written out with autograd, the weights detached
    offset = torch.full_like(cos, m)
    offset[torch.arange(len(y)), y] = 1 - m
    src = cos.detach()
    a = (1 - lam) + lam * torch.where(onehot(y, 4).bool(), torch.clamp(1 + m - src, min=0), torch.clamp(src + m, min=0))
    (g_ref,) = torch.autograd.grad(reference_ce(s * a * (cos - offset), y), cos)
    torch.testing.assert_close(g_loss, g_ref)


@pytest.mark.parametrize("lam", [0.0, 0.5, 1.0])
def test_gradcheck_through_cosine_classifier(lam):
    torch.manual_seed(0)
    clf = CosineClassifier(6, 4).double()
    x = torch.randn(5, 6, dtype=torch.float64, requires_grad=True)
    y = torch.tensor([0, 1, 2, 3, 1])
    loss = CSSoftmax(scale=5.0, margin=0.2, weight_update=lam)
    if lam == 0.0:  # a is constant everywhere: the full function is smooth and gradcheck applies
        assert torch.autograd.gradcheck(lambda v: loss(clf(v).double(), y), (x,), eps=1e-6, atol=1e-5)
    (gx,) = torch.autograd.grad(loss(clf(x), y), x)
    assert torch.isfinite(gx).all() and gx.abs().sum() > 0


def test_invariant_to_norms_of_x_and_w():
    torch.manual_seed(1)
    clf = CosineClassifier(8, 5).double()
    x = torch.randn(7, 8, dtype=torch.float64)
    y = torch.randint(0, 5, (7,))
    loss = CSSoftmax()
    base = loss(clf(x), y)
    scaled_x = loss(clf(x * (torch.rand(7, 1, dtype=torch.float64) * 100 + 0.01)), y)
    with torch.no_grad():
        clf.weight.mul_(torch.rand(5, 1, dtype=torch.float64) * 50 + 0.1)
    scaled_w = loss(clf(x), y)
    torch.testing.assert_close(scaled_x, base, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(scaled_w, base, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("name", sorted(set(LOSSES) - {"softmax"}))
def test_finite_for_zero_norm_embeddings(name):
    clf = CosineClassifier(4, 3)
    x = torch.zeros(2, 4, requires_grad=True)
    value = create_loss(name)(clf(x), torch.tensor([0, 2]))
    value.backward()
    assert torch.isfinite(value)
    assert torch.isfinite(x.grad).all() and torch.isfinite(clf.weight.grad).all()


@pytest.mark.parametrize("name", ["cs_softmax", "am_softmax", "aam_softmax", "circle"])
def test_finite_at_scale_64_with_10000_classes(name):
    torch.manual_seed(2)
    clf = CosineClassifier(32, 10000)
    x = torch.randn(16, 32, requires_grad=True)
    y = torch.randint(0, 10000, (16,))
    value = create_loss(name, scale=64.0)(clf(x), y)
    value.backward()
    assert torch.isfinite(value) and value > 0
    assert torch.isfinite(x.grad).all() and torch.isfinite(clf.weight.grad).all()


def test_bfloat16_autocast_computes_cosines_and_loss_in_float32():
    torch.manual_seed(3)
    net = torch.nn.Linear(10, 8)
    clf = CosineClassifier(8, 6)
    x = torch.randn(12, 10)
    y = torch.randint(0, 6, (12,))
    loss = CSSoftmax(scale=64.0)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        emb = net(x)
        cos = clf(emb)
        value = loss(cos, y)
    assert emb.dtype == torch.bfloat16
    assert cos.dtype == torch.float32 and value.dtype == torch.float32
    value.backward()
    assert torch.isfinite(value) and torch.isfinite(net.weight.grad).all()
    reference = loss(clf(net(x)), y)
    assert value.item() == pytest.approx(reference.item(), rel=0.05)


def test_no_c_by_c_tensors_and_weights_constant():
    """The saved state is B x C (no C x C); the gradient weights are exactly s*a of the spec."""
    cos, y = random_cos(b=3, c=4, seed=7)
    _, weight = cs_softmax_terms(cos, y, 2.0, 0.2, 0.5)
    assert weight.shape == cos.shape
    ap = 0.5 + 0.5 * torch.clamp(1.2 - cos, min=0)
    an = 0.5 + 0.5 * torch.clamp(cos + 0.2, min=0)
    expected = 2.0 * torch.where(onehot(y, 4).bool(), ap, an)
    torch.testing.assert_close(weight, expected)


# --- baselines against closed forms -----------------------------------------------------


def test_softmax_is_plain_cross_entropy():
    logits, y = random_cos(seed=11)
    logits = logits * 7
    torch.testing.assert_close(Softmax()(logits, y), reference_ce(logits, y))


def test_norm_softmax_reference():
    cos, y = random_cos(seed=12)
    torch.testing.assert_close(NormSoftmax(scale=16)(cos, y), reference_ce(16 * cos, y))


def test_am_softmax_reference():
    cos, y = random_cos(seed=13)
    ref = reference_ce(30 * (cos - 0.35 * onehot(y, cos.shape[1])), y)
    torch.testing.assert_close(AMSoftmax(scale=30, margin=0.35)(cos, y), ref)


def test_aam_softmax_reference_including_theta_plus_m_beyond_pi():
    m, s = 0.5, 16.0
    cos = torch.tensor([[0.9, 0.1, -0.2], [-0.95, 0.3, 0.0], [0.2, -0.99, 0.5]], dtype=torch.float64)
    y = torch.tensor([0, 0, 1])  # rows 2 and 3: theta_y + m > pi
    theta = torch.acos(cos)
    target = []
    for i, c in enumerate(y.tolist()):
        t = theta[i, c].item()
        target.append(math.cos(t + m) if t + m <= math.pi else cos[i, c].item() - m * math.sin(m))
    logits = cos.clone()
    logits[torch.arange(3), y] = torch.tensor(target, dtype=torch.float64)
    torch.testing.assert_close(AAMSoftmax(scale=s, margin=m)(cos, y), reference_ce(s * logits, y))


def test_a_softmax_psi_and_lambda_annealing():
    loss = ASoftmax(scale=10.0, margin=4, lambda_base=100.0, lambda_min=2.0, gamma=1.0)
    thetas = torch.linspace(0.01, math.pi - 0.01, 50, dtype=torch.float64)
    expected = []
    for t in thetas.tolist():
        k = math.floor(4 * t / math.pi)
        expected.append((-1) ** k * math.cos(4 * t) - 2 * k)
    torch.testing.assert_close(loss.psi(torch.cos(thetas)), torch.tensor(expected, dtype=torch.float64))
    assert (loss.psi(torch.cos(thetas)).diff() < 0).all()  # monotonic decreasing in theta
    cos, y = random_cos(seed=14)
    lam = loss.current_lambda
    assert lam == 100.0
    target = (lam * cos[torch.arange(len(y)), y] + loss.psi(cos[torch.arange(len(y)), y])) / (1 + lam)
    logits = cos.clone()
    logits[torch.arange(len(y)), y] = target
    torch.testing.assert_close(loss(cos, y), reference_ce(10 * logits, y))
    for _ in range(200):
        loss(cos, y)
    assert loss.current_lambda == 2.0  # 100 / (1 + 201) < 2: clamped at lambda_min
    loss.eval()
    before = int(loss.iteration)
    loss(cos, y)
    assert int(loss.iteration) == before  # evaluation does not anneal


@pytest.mark.parametrize("name", ["a_softmax", "cs_softmax", "am_softmax"])
def test_mixup_loss_is_one_step_mixing_two_targets(name):
    torch.manual_seed(3)
    cos = torch.rand(8, 5, dtype=torch.float64) * 2 - 1
    y_a, y_b = torch.randint(0, 5, (8,)), torch.randint(0, 5, (8,))
    kwargs = {"lambda_base": 100.0, "lambda_min": 2.0, "gamma": 0.5} if name == "a_softmax" else {}
    loss = create_loss(name, **kwargs)
    for _ in range(3):
        loss(cos, y_a)  # some annealing state before the mixed step
    state = {k: v.clone() for k, v in loss.state_dict().items()}
    ref_a, ref_b = create_loss(name, **kwargs), create_loss(name, **kwargs)
    ref_a.load_state_dict(state)
    ref_b.load_state_dict(state)
    expected = 0.3 * ref_a(cos, y_a) + 0.7 * ref_b(cos, y_b)  # both at the pre-step state
    torch.testing.assert_close(loss.mixup(cos, y_a, y_b, 0.3), expected)
    assert {k: v.tolist() for k, v in loss.state_dict().items()} == \
        {k: v.tolist() for k, v in ref_a.state_dict().items()}  # advanced once, like ref_a
    if name == "a_softmax":
        assert int(loss.iteration) == 4 and int(ref_b.iteration) == 4


# --- API: factory, margins, inference ---------------------------------------------------


def test_create_loss_unknown_name_lists_valid_names():
    with pytest.raises(KeyError) as err:
        create_loss("cosface")
    for name in LOSSES:
        assert name in str(err.value)


@pytest.mark.parametrize(
    "name,params,word",
    [
        ("cs_softmax", {"scale": 0.0}, "scale"),
        ("cs_softmax", {"scale": -1.0}, "scale"),
        ("cs_softmax", {"margin": 0.6}, "margin"),
        ("cs_softmax", {"weight_update": 1.5}, "weight_update"),
        ("cs_softmax", {"weight_update": -0.1}, "weight_update"),
        ("am_softmax", {"margin": -0.1}, "margin"),
        ("aam_softmax", {"margin": 2.0}, "margin"),
        ("a_softmax", {"margin": 2.5}, "margin"),
        ("softmax", {"margin": 0.2}, "margin"),
        ("norm_softmax", {"scale": float("inf")}, "scale"),
    ],
)
def test_invalid_parameters_raise_value_error_naming_them(name, params, word):
    with pytest.raises(ValueError, match=word):
        create_loss(name, **params)


def test_create_classifier_matches_loss():
    assert isinstance(create_classifier("softmax", 8, 3), LinearClassifier)
    for name in set(LOSSES) - {"softmax"}:
        assert isinstance(create_classifier(name, 8, 3), CosineClassifier)


def test_set_margin_changes_loss_and_fixed_margins_raise():
    cos, y = random_cos(seed=15)
    loss = CSSoftmax(scale=10, margin=0.25, weight_update=0.5)
    before = loss(cos, y)
    loss.set_margin(0.5)
    assert loss.margin == 0.5 and loss.target_margin == 0.25
    assert loss(cos, y) < before  # m = 0.5: the relaxed end
    with pytest.raises(ValueError, match="margin"):
        loss.set_margin(0.7)
    for fixed in (Softmax(), NormSoftmax(), ASoftmax()):
        with pytest.raises(FixedMarginError):
            fixed.set_margin(0.1)


def test_margin_ramp_goes_from_no_margin_to_target():
    am = AMSoftmax(margin=0.3)
    cs = CSSoftmax(margin=0.1)
    assert am.margin_at(0.0) == 0.0 and am.margin_at(1.0) == pytest.approx(0.3)
    assert cs.margin_at(0.0) == 0.5 and cs.margin_at(1.0) == pytest.approx(0.1)
    cs.ramp_margin(0.5)
    assert cs.margin == pytest.approx(0.3)


def test_inference_without_labels():
    torch.manual_seed(4)
    clf = CosineClassifier(5, 3)
    x = clf.weight.detach()[[2, 0, 1]] * 3.0  # embeddings pointing at classes 2, 0, 1
    cos = clf(x)
    loss = CSSoftmax(scale=30)
    assert loss.predict(cos).tolist() == [2, 0, 1]
    torch.testing.assert_close(loss.inference_logits(cos), 30 * cos)


# --- learning sanity ----------------------------------------------------------------------

_PARAMS = {"am_softmax": {"margin": 0.35}, "aam_softmax": {"margin": 0.5}, "a_softmax": {"gamma": 1.0}}


@pytest.fixture(scope="module")
def trained():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models: one thread is faster and the results do not change
    try:
        return {n: train_on_clusters(n, num_classes=8, embed_dim=8, seed=0, **_PARAMS.get(n, {})) for n in LOSSES}
    finally:
        torch.set_num_threads(threads)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_every_loss_learns_clusters(trained, name):
    assert trained[name].accuracy >= 0.95


@pytest.mark.parametrize("name", ["am_softmax", "aam_softmax", "a_softmax", "circle", "cs_softmax"])
def test_margin_losses_separate_more_than_softmax(trained, name):
    soft = trained["softmax"]
    r = trained[name]
    assert r.min_weight_angle > soft.min_weight_angle or r.mean_margin > soft.mean_margin


# --- the cosine classifier ------------------------------------------------------------------


def test_cosine_classifier_matches_normalize_and_gradcheck():
    torch.manual_seed(5)
    clf = CosineClassifier(6, 4).double()
    x = torch.randn(5, 6, dtype=torch.float64, requires_grad=True)
    reference = F.normalize(x, dim=1) @ F.normalize(clf.weight, dim=1).T
    torch.testing.assert_close(clf(x), reference)
    w = clf.weight.detach().clone().requires_grad_()
    assert torch.autograd.gradcheck(lambda v, u: NormalizedLinear.apply(v, u, 1e-12), (x, w))
    g = torch.randn(5, 4, dtype=torch.float64)
    gx, gw = torch.autograd.grad((clf(x) * g).sum(), (x, clf.weight))
    rx, rw = torch.autograd.grad((reference * g).sum(), (x, clf.weight))
    torch.testing.assert_close(gx, rx)
    torch.testing.assert_close(gw, rw)


def _rotation_after_one_adam_step(head: CosineClassifier, lr: float) -> float:
    """Largest angle (degrees) a class weight row turns in one AdamW step on random data."""
    torch.manual_seed(1)
    x, y = torch.randn(32, head.weight.shape[1]), torch.randint(0, head.num_classes, (32,))
    before = head.weight.detach().clone()
    opt = torch.optim.AdamW(head.parameters(), lr=lr, weight_decay=0.0)
    CSSoftmax()(head(x), y).backward()
    opt.step()
    cos = F.cosine_similarity(before, head.weight.detach(), dim=1).clamp(-1, 1)
    return float(torch.rad2deg(torch.acos(cos)).max())


def test_cosine_classifier_rows_start_at_unit_norm_so_adam_turns_them_gently() -> None:
    torch.manual_seed(0)
    head = CosineClassifier(64, 10)
    norms = head.weight.detach().norm(dim=1)
    torch.testing.assert_close(norms, torch.ones(10))
    assert _rotation_after_one_adam_step(head, lr=0.01) < 8.0
    small = CosineClassifier(64, 10)
    with torch.no_grad():  # the small-normal init of linear layers: rows of norm ~0.08
        small.weight.normal_(std=0.01)
    assert _rotation_after_one_adam_step(small, lr=0.01) > 30.0
