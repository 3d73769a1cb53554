"""ECAPA-TDNN: shapes, gradients, padding-exact pooling, sizes, registry and YAML kwargs, export."""

from __future__ import annotations

import copy
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from audiocs.checkpoint import build_modules, model_meta
from audiocs.config import load_config
from audiocs.features import FeatureSettings
from audiocs.models import ECAPATDNN, create_model
from audiocs.models.ecapa import AttentiveStatsPool

TINY = {"channels": 32, "scale": 4, "se_channels": 8, "attention_channels": 8}


def tiny(seed: int = 0, **kwargs: object) -> ECAPATDNN:
    torch.manual_seed(seed)
    return create_model("ecapa_tdnn", n_features=16, embed_dim=12, **{**TINY, **kwargs})


def randomize_batchnorm(model: nn.Module) -> nn.Module:
    """Non-trivial BatchNorm statistics, so that padding leaking into a layer would show."""
    gen = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm1d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=gen))
            m.running_var.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
            m.weight.data.copy_(torch.randn(m.num_features, generator=gen))
            m.bias.data.copy_(torch.randn(m.num_features, generator=gen))
    return model


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name, kwargs, channels", [("ecapa_tdnn", {}, 512),
                                                    ("ecapa_tdnn_small", {}, 256),
                                                    ("ecapa_tdnn", {"channels": 64}, 64)])
def test_output_shape_and_layer_sizes(name, kwargs, channels):
    torch.manual_seed(0)
    model = create_model(name, n_features=40, **kwargs).eval()
    assert model.embed_dim == 192 and model.min_frames == 2
    assert model.stem.conv.out_channels == channels
    assert model.aggregate.conv.out_channels == 3 * channels  # 1536 for the paper's C = 512
    assert model.embedding[1].in_features == 6 * channels  # attentive mean and std of 3C
    assert [b.res2[0].conv.dilation[0] for b in model.blocks] == [2, 3, 4]
    with torch.no_grad():
        emb = model(torch.randn(2, 23, 40))
    assert emb.shape == (2, 192) and torch.isfinite(emb).all()


def test_backward_reaches_every_parameter_and_no_padded_frame():
    model = tiny().train()
    lengths = torch.tensor([30, 17, 24])
    x = torch.randn(3, 30, 16, requires_grad=True)
    emb = model(x, lengths)
    (emb * torch.randn_like(emb)).sum().backward()
    for name, p in model.named_parameters():
        assert torch.isfinite(p.grad).all(), name
        if name == "embedding.1.bias":  # a Linear bias right before a training-mode BatchNorm
            assert p.grad.abs().max() < 1e-5
        else:
            assert p.grad.abs().sum() > 0, name
    real = torch.arange(30)[None, :] < lengths[:, None]
    assert (x.grad.abs().sum(dim=2) > 0)[real].all()
    assert (x.grad[~real] == 0).all()  # padded frames do not influence anything


@pytest.mark.parametrize("lengths", [(57, 23), (80, 2)])
def test_padded_batch_equals_each_clip_alone(lengths):
    model = randomize_batchnorm(tiny()).eval()
    longest = 91
    full = torch.tensor([longest, *lengths])
    x = torch.randn(3, longest, 16) * (torch.arange(longest)[None, :, None] < full[:, None, None])
    with torch.no_grad():
        batch = model(x, full)
        alone = torch.cat([model(x[i:i + 1, :n]) for i, n in enumerate(full.tolist())])
        ignoring_lengths = model(x)
    torch.testing.assert_close(batch, alone, rtol=0, atol=1e-5)
    assert (ignoring_lengths[1:] - alone[1:]).abs().max() > 1e-3  # the padding does matter


def test_attention_weights_sum_to_one_over_real_frames_and_vanish_on_padding():
    torch.manual_seed(0)
    pool = randomize_batchnorm(AttentiveStatsPool(6, attention_channels=5)).eval()
    lengths = torch.tensor([20, 7, 13])
    x = torch.randn(3, 6, 20, dtype=torch.float64)
    pool.double()
    with torch.no_grad():
        weights = pool.attention(x, lengths)
        pooled = pool(x, lengths)
    real = (torch.arange(20)[None, :] < lengths[:, None])[:, None, :].expand_as(weights)
    torch.testing.assert_close(weights.sum(dim=2), torch.ones(3, 6, dtype=torch.float64))
    assert (weights[~real] == 0).all() and (weights[real] > 0).all()
    assert not torch.allclose(weights[0, 0], weights[0, 1])  # channel-wise, not uniform
    for i, n in enumerate(lengths.tolist()):  # the statistics of the clip alone, garbage padding
        w = weights[i, :, :n]
        mean = (w * x[i, :, :n]).sum(dim=1)
        std = (w * (x[i, :, :n] - mean[:, None]) ** 2).sum(dim=1).sqrt()
        torch.testing.assert_close(pooled[i], torch.cat([mean, std]))
        torch.testing.assert_close(pool(x[i:i + 1, :, :n])[0], pooled[i])


def test_channels_sets_the_size():
    counts = {c: n_params(create_model("ecapa_tdnn", n_features=40, channels=c))
              for c in (64, 128, 256, 512)}
    assert counts[64] < counts[128] < counts[256] < counts[512]
    assert n_params(create_model("ecapa_tdnn_small", n_features=40)) == counts[256]
    assert 6.0e6 < counts[512] < 6.2e6  # the paper: 6.2 M with 80 filterbanks (6.09 M with 40)
    assert counts[512] > 3 * counts[256]  # the convolutions grow with C squared


def test_registry_and_yaml_kwargs_reach_the_model(tmp_path: Path):
    model = create_model("ecapa_tdnn", n_features=40, channels=64)
    assert isinstance(model, ECAPATDNN) and model.stem.conv.out_channels == 64
    (tmp_path / "conf.yaml").write_text(
        "data:\n  cache_dir: cache\nmodel:\n  name: ecapa_tdnn_small\n  embed_dim: 32\n"
        "  kwargs: {channels: 96, scale: 4, se_channels: 16, attention_channels: 24}\n")
    cfg = load_config(tmp_path / "conf.yaml")
    settings = FeatureSettings()
    meta = model_meta(cfg, n_features=settings.n_mels, class_names=["a", "b"], settings=settings,
                      mean=np.zeros(settings.n_mels), std=np.ones(settings.n_mels))
    model = build_modules(meta)[0]
    assert (model.embed_dim, model.stem.conv.out_channels) == (32, 96)
    assert len(model.blocks[0].res2) == 3 and model.blocks[0].res2[0].conv.in_channels == 24
    assert model.blocks[0].se.squeeze.out_features == 16
    assert model.pool.hidden.conv.out_channels == 24
    with pytest.raises(ValueError, match="multiple of scale"):
        create_model("ecapa_tdnn", n_features=40, channels=100)
    with pytest.raises(TypeError, match="width"):
        create_model("ecapa_tdnn_small", n_features=40, width=8)


def test_too_short_input_is_a_clear_error():
    model = tiny().eval()
    model(torch.randn(1, 2, 16))
    with pytest.raises(ValueError, match="at least 2 frames, got 1"):
        model(torch.randn(1, 1, 16))
    with pytest.raises(ValueError, match="at least 2 frames, got 1"):
        model(torch.randn(2, 9, 16), torch.tensor([9, 1]))


def test_bf16_autocast_and_channels_last():
    model = randomize_batchnorm(tiny()).eval()
    x = torch.randn(2, 40, 16)
    with torch.no_grad():
        reference = model(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = model(x)
        nhwc = copy.deepcopy(model).to(memory_format=torch.channels_last)  # as the trainer does
        assert torch.equal(nhwc(x), reference)
    assert torch.isfinite(low).all()
    assert torch.nn.functional.cosine_similarity(low.float(), reference).min() > 0.99
    model.train()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        model(x, torch.tensor([40, 25])).float().square().sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())


@pytest.mark.parametrize("fmt", ["torchscript", "onnx"])
def test_export_keeps_batch_and_time_dynamic(tmp_path: Path, fmt: str):
    model = randomize_batchnorm(tiny()).eval()
    example, other = torch.randn(2, 64, 16), torch.randn(3, 37, 16)
    with torch.no_grad():
        expected = model(other).numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if fmt == "torchscript":
            got = torch.jit.trace(model, (example,), check_trace=False)(other).detach().numpy()
        else:
            ort = pytest.importorskip("onnxruntime")
            path = tmp_path / "ecapa.onnx"
            axes = {"x": {0: "batch", 1: "frames"}, "embedding": {0: "batch"}}
            torch.onnx.export(model, (example,), str(path), input_names=["x"],
                              output_names=["embedding"], opset_version=17, dynamo=False,
                              dynamic_axes=axes)
            session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
            got = session.run(None, {"x": other.numpy()})[0]
    np.testing.assert_allclose(got, expected, atol=1e-4)


def test_each_block_gets_the_sum_of_the_stem_and_all_earlier_blocks():
    model = tiny().eval()
    seen: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
    for name in ("stem", "blocks.0", "blocks.1", "blocks.2"):
        model.get_submodule(name).register_forward_hook(
            lambda m, args, out, name=name: seen.__setitem__(name, (args[0], out)))
    with torch.no_grad():
        model(torch.randn(2, 30, 16))
    total = seen["stem"][1]
    for name in ("blocks.0", "blocks.1", "blocks.2"):
        torch.testing.assert_close(seen[name][0], total)
        total = total + seen[name][1]
