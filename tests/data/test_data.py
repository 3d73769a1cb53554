"""ClipDataset crops and normalization, collate_clips, SpecAugment, mixup and sliding_windows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from torch.utils.data import DataLoader

from audiocs.cache import FeatureCache
from audiocs.cache_build import build_cache
from audiocs.data import ClipDataset, SpecAugment, collate_clips, mixup, sliding_windows
from audiocs.features import FeatureSettings
from audiocs.manifest import ManifestRow
from audiocs.models import create_model

F = 6
LENGTHS = [40, 25, 5, 60, 33, 12, 50, 41]  # frames of the clips of the ``cache`` fixture


def write_clips(folder: Path, frames: list[int], rate: int = 16000, hop: int = 160) -> list:
    """Generated wavs of exactly ``frames[i]`` log-mel frames (3 classes of tones in noise, folds
    1-3) and their manifest rows."""
    rng = np.random.default_rng(0)
    folder.mkdir()
    rows = []
    for i, n in enumerate(frames):
        t = np.arange((n - 1) * hop) / rate  # centred frames: 1 + samples // hop of them
        wave = 0.3 * np.sin(2 * np.pi * 300 * (1 + i % 3) * t) + 0.05 * rng.standard_normal(t.size)
        path = folder / f"clip{i}.wav"
        sf.write(path, wave.astype(np.float32), rate, subtype="PCM_16")
        rows.append(ManifestRow(f"clip{i}", str(path), i % 3, f"tone{i % 3}", 1 + i % 3))
    return rows


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> FeatureCache:
    """A feature cache of 8 generated clips (F = 6 log-mel bands) of LENGTHS frames."""
    root = tmp_path_factory.mktemp("cache")
    built = build_cache(write_clips(root / "audio", LENGTHS), root / "cache",
                        FeatureSettings(n_mels=F), workers=1, train_folds=[1, 2], progress=False)
    assert [built[i].shape[0] for i in range(len(built))] == LENGTHS
    return built


def normalized(cache: FeatureCache, index: int) -> np.ndarray:
    return (np.asarray(cache[index]) - cache.mean) / cache.std


def find_start(clip: np.ndarray, crop: np.ndarray) -> int:
    """The frame where ``crop`` (a contiguous run of ``clip``) starts; fails if it is not one."""
    starts = [s for s in range(len(clip) - len(crop) + 1)
              if np.allclose(clip[s:s + len(crop)], crop, atol=1e-4)]
    assert len(starts) == 1
    return starts[0]


def test_whole_clip_items_are_normalized_with_the_cache_stats(cache):
    ds = ClipDataset(cache, [3, 1, 7])
    assert len(ds) == 3
    item = ds[1]
    assert item["index"] == 1 and item["label"] == 1
    assert item["features"].dtype == torch.float32
    np.testing.assert_allclose(item["features"].numpy(), normalized(cache, 1), rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(ds.labels, [0, 1, 1])
    raw = ClipDataset(cache, [1], normalize=False)[0]["features"].numpy()
    np.testing.assert_array_equal(raw, cache[1])
    raw[0, 0] = 1e9  # the item owns its memory: the cache is untouched
    assert cache[1][0, 0] != 1e9


def test_eval_crop_is_the_centre(cache):
    ds = ClipDataset(cache, range(len(cache)), crop_frames=20, train=False)
    item = ds[3]  # 60 frames: centre crop starts at (60 - 20) // 2 = 20
    np.testing.assert_allclose(item["features"].numpy(), normalized(cache, 3)[20:40], atol=1e-5)
    ds.set_epoch(5)
    assert torch.equal(ds[3]["features"], item["features"])


def test_short_clips_are_repeated_to_fill_the_crop(cache):
    for train in (False, True):
        item = ClipDataset(cache, [2], crop_frames=12, train=train)[0]  # clip of 5 frames
        expected = normalized(cache, 2)[[0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 1]]
        np.testing.assert_allclose(item["features"].numpy(), expected, atol=1e-5)


def test_train_crops_are_random_but_a_function_of_seed_epoch_and_index(cache):
    def starts(seed: int, epoch: int, order: list[int]) -> dict[int, int]:
        ds = ClipDataset(cache, [0, 3, 4, 6, 7], crop_frames=20, train=True, seed=seed)
        ds.set_epoch(epoch)
        out = {}
        for item in order:
            got = ds[item]
            assert got["features"].shape == (20, F)
            out[got["index"]] = find_start(normalized(cache, got["index"]), got["features"].numpy())
        return out

    first = starts(0, 0, [0, 1, 2, 3, 4])
    assert starts(0, 0, [4, 2, 0, 3, 1]) == first  # order does not matter
    assert starts(0, 1, [0, 1, 2, 3, 4]) != first  # a new epoch, new crops
    assert starts(1, 0, [0, 1, 2, 3, 4]) != first  # a new seed, new crops
    many = [starts(0, epoch, [1])[3] for epoch in range(60)]  # clip 3: 60 frames, starts 0..40
    assert min(many) >= 0 and max(many) <= 40 and len(set(many)) > 20


def test_batches_do_not_depend_on_the_number_of_workers(cache):
    ds = ClipDataset(cache, range(len(cache)), crop_frames=16, train=True, seed=3)
    ds.set_epoch(2)
    batches = []
    for workers in (0, 2):
        loader = DataLoader(ds, batch_size=3, collate_fn=collate_clips, num_workers=workers)
        batches.append(list(loader))
    assert len(batches[0]) == 3
    for one, two in zip(*batches):
        assert one.keys() == two.keys()
        for key in one:
            assert torch.equal(one[key], two[key]), key


def test_bad_arguments_are_clear_errors(cache):
    with pytest.raises(IndexError, match=r"\[0, 8\)"):
        ClipDataset(cache, [0, 8])
    with pytest.raises(ValueError, match="crop_frames"):
        ClipDataset(cache, [0], crop_frames=0)


def test_collate_pads_with_zeros_and_keeps_lengths(cache):
    items = [ClipDataset(cache, [i])[0] for i in (2, 0, 5)]  # 5, 40, 12 frames
    batch = collate_clips(items)
    assert set(batch) == {"features", "labels", "lengths", "index"}
    assert batch["features"].shape == (3, 40, F)
    assert batch["lengths"].tolist() == [5, 40, 12]
    assert batch["labels"].tolist() == [2, 0, 2]
    assert batch["index"].tolist() == [2, 0, 5]
    for row, item in enumerate(items):
        n = item["features"].shape[0]
        assert torch.equal(batch["features"][row, :n], item["features"])
        assert batch["features"][row, n:].abs().sum() == 0


def test_collate_stacks_crops_of_one_length(cache):
    ds = ClipDataset(cache, [0, 3, 2], crop_frames=16, train=True)
    batch = collate_clips([ds[i] for i in range(3)])
    assert batch["features"].shape == (3, 16, F)
    assert batch["lengths"].tolist() == [16, 16, 16]
    for row in range(3):
        assert torch.equal(batch["features"][row], ds[row]["features"])


def test_specaugment_is_identity_in_eval_mode():
    aug = SpecAugment().eval()
    x = torch.randn(2, 50, 16)
    assert aug(x) is x


def runs(flags: np.ndarray) -> list[int]:
    """Lengths of the runs of True in a 1-D bool array."""
    edges = np.diff(np.concatenate([[0], flags.astype(int), [0]]))
    return list(np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1))


def test_specaugment_masks_bands_within_their_limits():
    aug = SpecAugment(freq_masks=2, freq_width=5, time_masks=3, time_width=7,
                      generator=torch.Generator().manual_seed(0)).train()
    x = torch.rand(64, 50, 24) + 1.0  # never zero
    lengths = torch.randint(20, 51, (64,), generator=torch.Generator().manual_seed(1))
    y = aug(x, lengths)
    zero = (y == 0).numpy()
    assert torch.equal(y[~torch.from_numpy(zero)], x[~torch.from_numpy(zero)])
    for b in range(64):
        cols = zero[b].all(axis=0)  # masked frequency bands
        rows = zero[b].all(axis=1)  # masked frames
        assert np.array_equal(zero[b], cols[None, :] | rows[:, None])
        assert len(runs(cols)) <= 2 and sum(runs(cols)) <= 10
        assert len(runs(rows)) <= 3 and sum(runs(rows)) <= 21
        if not cols.all():
            assert not rows[lengths[b]:].any()  # time masks stay inside the clip
    assert zero.any(axis=(1, 2)).mean() > 0.9


def test_specaugment_mask_width_is_uniform_up_to_the_limit():
    aug = SpecAugment(freq_masks=0, time_masks=1, time_width=20,
                      generator=torch.Generator().manual_seed(0)).train()
    y = aug(torch.ones(4000, 100, 2))
    widths = (y[:, :, 0] == 0).sum(dim=1).double()
    assert widths.max() == 20 and widths.min() == 0
    assert abs(widths.mean().item() - 10.0) < 0.3  # mean of uniform 0..20
    assert abs(widths.var().item() - (21 ** 2 - 1) / 12) < 3.0  # its variance, 36.67


def test_specaugment_is_reproducible_with_a_generator():
    x = torch.randn(8, 60, 16)

    def masked(seed: int) -> torch.Tensor:
        return SpecAugment(generator=torch.Generator().manual_seed(seed)).train()(x)

    assert torch.equal(masked(4), masked(4))
    assert not torch.equal(masked(4), masked(5))


def test_mixup_mixes_pairs_with_the_returned_weight():
    x = torch.randn(16, 30, 8)
    labels = torch.arange(16) * 10
    mixed, labels_a, labels_b, lam = mixup(x, labels, 0.4, torch.Generator().manual_seed(0))
    assert 0.0 <= lam <= 1.0
    assert torch.equal(labels_a, labels)
    perm = labels_b // 10
    assert sorted(perm.tolist()) == list(range(16))
    torch.testing.assert_close(mixed, lam * x + (1 - lam) * x[perm])
    again = mixup(x, labels, 0.4, torch.Generator().manual_seed(0))
    assert again[3] == lam and torch.equal(again[2], labels_b)
    with pytest.raises(ValueError, match="alpha"):
        mixup(x, labels, 0.0)


def test_mixup_weight_follows_the_beta_distribution():
    gen = torch.Generator().manual_seed(0)
    x, labels = torch.zeros(2, 1), torch.zeros(2, dtype=torch.long)
    lams = np.array([mixup(x, labels, 0.4, gen)[3] for _ in range(3000)])
    # Beta(a, a): mean 1/2, variance 1 / (4 (2a + 1)) = 0.1389 for a = 0.4
    assert abs(lams.mean() - 0.5) < 0.03
    assert abs(lams.var() - 1 / (4 * 1.8)) < 0.01


@pytest.mark.parametrize("frames,win,hop,starts", [
    (10, 4, 3, [0, 3, 6]), (10, 4, 2, [0, 2, 4, 6]), (11, 4, 3, [0, 3, 6, 7]),
    (4, 4, 2, [0]), (50, 20, 20, [0, 20, 30])])
def test_sliding_windows_cover_the_clip(frames, win, hop, starts):
    clip = torch.randn(frames, 3)
    windows = sliding_windows(clip, win, hop)
    assert windows.shape == (len(starts), win, 3)
    for window, start in zip(windows, starts):
        assert torch.equal(window, clip[start:start + win])


def test_sliding_windows_repeat_a_short_clip():
    clip = torch.randn(3, 2)
    windows = sliding_windows(clip, 7, 2)
    assert torch.equal(windows[0], clip[[0, 1, 2, 0, 1, 2, 0]])
    with pytest.raises(ValueError, match="hop"):
        sliding_windows(clip, 4, 0)


# --- normalization, DataLoader workers, real audio ---------------------------------------------


def test_normalization_uses_the_training_folds_stats(cache):
    train = np.flatnonzero(np.isin(cache.folds, [1, 2]))
    assert len(train) == 6
    whole = ClipDataset(cache, train)
    frames = np.concatenate([whole[i]["features"].numpy() for i in range(len(whole))])
    # normalized with the stats of the training frames: zero mean, unit std per mel band
    np.testing.assert_allclose(frames.mean(axis=0), 0.0, atol=1e-3)
    np.testing.assert_allclose(frames.std(axis=0), 1.0, atol=1e-3)


def test_loader_workers_read_crops_of_the_cache(cache):
    crops = ClipDataset(cache, np.arange(len(cache)), crop_frames=4, train=True, seed=7)
    crops.set_epoch(1)
    loader = DataLoader(crops, batch_size=4, shuffle=False, collate_fn=collate_clips,
                        num_workers=2)
    seen = []
    for batch in loader:
        assert batch["features"].shape[1:] == (4, F)
        assert batch["lengths"].eq(4).all()
        np.testing.assert_array_equal(batch["labels"].numpy(), cache.labels[batch["index"].numpy()])
        for row, index in enumerate(batch["index"].tolist()):
            find_start(normalized(cache, index), batch["features"][row].numpy())
            seen.append(index)
    assert seen == list(range(len(cache)))


def test_real_fsdd_batches_give_the_embeddings_of_single_clips(real_data, tmp_path):
    paths = sorted((real_data / "fsdd" / "recordings").glob("[0-5]_theo_0.wav"))
    rows = [ManifestRow(p.stem, str(p), int(p.name[0]), f"digit{p.name[0]}", 1, "theo")
            for p in paths]
    cache = build_cache(rows, tmp_path / "cache", FeatureSettings(kind="fbank", n_mels=40),
                        workers=1, strict=True, progress=False)
    dataset = ClipDataset(cache, np.arange(len(cache)))
    batch = collate_clips([dataset[i] for i in range(len(dataset))])
    assert batch["lengths"].tolist() == [cache[i].shape[0] for i in range(len(cache))]
    assert len(set(batch["lengths"].tolist())) > 1  # real recordings differ in length
    torch.manual_seed(0)
    model = create_model("resnet18_thin", n_features=40, width=4, embed_dim=16).eval()
    with torch.no_grad():
        together = model(batch["features"], batch["lengths"])
        alone = torch.cat([model(dataset[i]["features"][None]) for i in range(len(dataset))])
    torch.testing.assert_close(together, alone, rtol=1e-4, atol=1e-4)
