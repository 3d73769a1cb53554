"""Every registered backbone: forward, backward, embedding shape, variable T, batch independence."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from audiocs.models import EmbeddingModel, create_model, list_models
from audiocs.models.resnet import statistics_pooling

N_FEATURES = 16
EMBED_DIM = 8
TINY = {"n_features": N_FEATURES, "embed_dim": EMBED_DIM}
ECAPA_TINY = {"channels": 8, "scale": 4, "se_channels": 4, "attention_channels": 4}
SIZE = {"ecapa_tdnn": ECAPA_TINY, "ecapa_tdnn_small": ECAPA_TINY}  # the others: width 4
MIN_FRAMES = {"ecapa_tdnn": 2, "ecapa_tdnn_small": 2}  # the others: 16


def tiny_model(name: str, seed: int = 0) -> EmbeddingModel:
    torch.manual_seed(seed)
    return create_model(name, **TINY, **SIZE.get(name, {"width": 4}))


def test_registry_lists_every_family():
    assert list_models() == ["ecapa_tdnn", "ecapa_tdnn_small", "resnet18_thin", "resnet34_thin",
                             "vgg_large", "vgg_small"]


def test_unknown_name_lists_valid_names():
    with pytest.raises(KeyError) as info:
        create_model("vgg_huge", n_features=N_FEATURES)
    message = str(info.value)
    assert "vgg_huge" in message
    for name in list_models():
        assert name in message


@pytest.mark.parametrize("name", list_models())
@pytest.mark.parametrize("frames", [16, 37])
def test_forward_shape_and_alias(name, frames):
    model = tiny_model(name).eval()
    assert model.embed_dim == EMBED_DIM
    x = torch.randn(3, frames, N_FEATURES)
    with torch.no_grad():
        emb = model.forward_features(x)
        assert emb.shape == (3, EMBED_DIM)
        assert emb.dtype == torch.float32
        assert torch.isfinite(emb).all()
        assert torch.equal(model(x), emb)


@pytest.mark.parametrize("name", list_models())
@pytest.mark.parametrize("frames", [16, 37])
def test_backward_gives_every_parameter_a_finite_gradient(name, frames):
    model = tiny_model(name).train()
    x = torch.randn(4, frames, N_FEATURES, requires_grad=True)
    emb = model.forward_features(x)
    (emb * torch.randn_like(emb)).sum().backward()
    for pname, param in model.named_parameters():
        assert param.grad is not None, pname
        assert torch.isfinite(param.grad).all(), pname
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert sum(p.grad.abs().sum() for p in model.parameters()) > 0


@pytest.mark.parametrize("name", list_models())
def test_eval_embedding_is_independent_of_the_batch(name):
    model = tiny_model(name).eval()
    x = torch.randn(5, 24, N_FEATURES)
    with torch.no_grad():
        batch = model(x)
        alone = torch.cat([model(x[i:i + 1]) for i in range(5)])
    torch.testing.assert_close(alone, batch, rtol=1e-4, atol=1e-5)
    assert not torch.allclose(batch[0], batch[1])  # the samples do differ


def randomize_batchnorm(model: nn.Module) -> None:
    """Give every BatchNorm non-trivial statistics so that padding would show if it leaked."""
    gen = torch.Generator().manual_seed(1)
    for module in model.modules():
        if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
            size = module.num_features
            module.running_mean.copy_(torch.randn(size, generator=gen))
            module.running_var.copy_(torch.rand(size, generator=gen) + 0.5)
            module.weight.data.copy_(torch.randn(size, generator=gen))
            module.bias.data.copy_(torch.randn(size, generator=gen))


@pytest.mark.parametrize("name", list_models())
def test_padded_batch_with_lengths_matches_clips_alone(name):
    model = tiny_model(name).eval()
    randomize_batchnorm(model)
    lengths = torch.tensor([37, 20, 29, 16])
    x = torch.randn(4, 40, N_FEATURES) * (torch.arange(40)[None, :, None] < lengths[:, None, None])
    with torch.no_grad():
        batch = model(x, lengths)
        alone = torch.cat([model(x[i:i + 1, :n]) for i, n in enumerate(lengths.tolist())])
        ignoring_lengths = model(x)
    torch.testing.assert_close(batch, alone, rtol=1e-4, atol=1e-5)
    assert (ignoring_lengths - alone).abs().max() > 1e-3  # the padding does matter without them


@pytest.mark.parametrize("name", list_models())
def test_bad_lengths_are_clear_errors(name):
    model = tiny_model(name).eval()
    x = torch.randn(2, 30, N_FEATURES)
    least = MIN_FRAMES.get(name, 16)
    with pytest.raises(ValueError, match=f"at least {least} frames, got {least - 1}"):
        model(x, torch.tensor([30, least - 1]))
    with pytest.raises(ValueError, match="at most 30 frames"):
        model(x, torch.tensor([31, 20]))


@pytest.mark.parametrize("name", list_models())
def test_too_few_frames_is_a_clear_error(name):
    model = tiny_model(name).eval()
    least = MIN_FRAMES.get(name, 16)
    assert model.min_frames == least
    model(torch.randn(1, least, N_FEATURES))
    with pytest.raises(ValueError, match=f"at least {least} frames, got {least - 1}"):
        model(torch.randn(1, least - 1, N_FEATURES))


@pytest.mark.parametrize("name", list_models())
def test_wrong_feature_count_or_rank_is_a_clear_error(name):
    model = tiny_model(name).eval()
    with pytest.raises(ValueError, match="16 features per frame, got 20"):
        model(torch.randn(2, 32, 20))
    with pytest.raises(ValueError, match="frames, features"):
        model(torch.randn(32, N_FEATURES))


def test_vgg_rejects_too_few_features():
    with pytest.raises(ValueError, match="n_features >= 16"):
        create_model("vgg_small", n_features=8)


def conv_channels(model: nn.Module) -> list[int]:
    return [m.out_channels for m in model.modules() if isinstance(m, nn.Conv2d)
            and m.kernel_size == (3, 3)]


def test_variant_sizes_follow_their_documentation():
    small = create_model("vgg_small", n_features=64)
    large = create_model("vgg_large", n_features=64)
    assert (small.embed_dim, large.embed_dim) == (128, 512)
    assert sorted(set(conv_channels(small))) == [16, 32, 64, 128]
    assert sorted(set(conv_channels(large))) == [64, 128, 256, 512]
    r18 = create_model("resnet18_thin", n_features=80, width=16)
    r34 = create_model("resnet34_thin", n_features=80)
    assert (r18.embed_dim, r34.embed_dim) == (256, 256)
    assert sorted(set(conv_channels(r18))) == [16, 32, 64, 128]
    # stem + 2 convs per basic block: 1 + 2 * (3 + 4 + 6 + 3)
    assert len(conv_channels(r34)) == 33 and len(conv_channels(r18)) == 17
    # statistics pooling sees 8 * width channels x ceil(80 / 8) bands, mean and std
    assert r34.embedding[1].in_features == 2 * 256 * 10


def test_statistics_pooling_matches_numpy():
    maps = torch.randn(2, 3, 4, 9, dtype=torch.float64)
    pooled = statistics_pooling(maps).numpy()
    flat = maps.numpy().reshape(2, 12, 9)
    expected = np.concatenate([flat.mean(axis=2), flat.std(axis=2)], axis=1)
    np.testing.assert_allclose(pooled, expected, rtol=1e-10)


def test_extra_keyword_reaches_the_model():
    model = create_model("vgg_small", n_features=N_FEATURES, dropout=0.5)
    assert model.embedding[0].p == 0.5
    with pytest.raises(TypeError, match="no_such_option"):
        create_model("resnet18_thin", n_features=N_FEATURES, no_such_option=1)
