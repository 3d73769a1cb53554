"""Torch dataset over the feature cache, the batch collator, and the training augmentations.

A dataset item is a dict::

    features  FloatTensor (T, F)   one clip's frames, normalized with the given mean/std
                                   (default: the cache's)
    label     int                  class index 0..C-1 (``cache.labels``)
    index     int                  position of the clip in the cache (``cache.rows[index]``)

``collate_clips`` turns a list of items into the batch dict::

    features  FloatTensor (B, T_max, F)  clips padded with zeros at the end (zero = the mean
                                         after normalization); T_max = longest clip
    labels    LongTensor (B,)
    lengths   LongTensor (B,)            frames of each clip before padding
    index     LongTensor (B,)            cache positions

Cropping: with ``crop_frames`` set, a training item is a random crop of that many frames and
an evaluation item the centre crop; a clip shorter than the crop is repeated (wrapped around)
to fill it. Without ``crop_frames`` the whole clip is returned. Crops are drawn from
``numpy.random.default_rng([seed, epoch, index])``, so an item depends only on those three
numbers, not on worker count, rank or order: call ``set_epoch(epoch)`` before each epoch, or
sample ``(epoch, item)`` keys (as training does, whose DataLoader workers persist across
epochs and hold their own copies of the dataset, which ``set_epoch`` would not reach).

``SpecAugment`` (Park et al., 2019) and ``mixup`` (Zhang et al., 2018) work on batches, and
``sliding_windows`` cuts a whole clip into the windows of sliding-window evaluation.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np
import torch
from torch import nn
from torch.nn.utils.rnn import pad_sequence
from torch.utils.data import Dataset


class FeatureCacheLike(Protocol):
    """What ``ClipDataset`` reads from ``audiocs.cache.FeatureCache``."""

    labels: np.ndarray
    mean: np.ndarray
    std: np.ndarray

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> np.ndarray: ...


def wrap_indices(num_frames: int, start: int, length: int) -> np.ndarray:
    """Frame indices start, start+1, ... (``length`` of them) wrapping around ``num_frames``."""
    return (start + np.arange(length)) % num_frames


def crop_clip(clip: np.ndarray, start: int, length: int) -> np.ndarray:
    """Frames [start, start + length) of (T, F) ``clip``, repeating it from frame 0 past its end."""
    if start + length <= clip.shape[0]:
        return clip[start:start + length]
    return clip[wrap_indices(clip.shape[0], start, length)]


class ClipDataset(Dataset):
    """The clips ``indices`` of a feature cache as dict items (see the module docstring)."""

    def __init__(self, cache: FeatureCacheLike, indices: Sequence[int] | np.ndarray, *,
                 crop_frames: int | None = None, train: bool = False, normalize: bool = True,
                 seed: int = 0, mean: np.ndarray | None = None,
                 std: np.ndarray | None = None) -> None:
        self.cache = cache
        self.indices = np.asarray(indices, dtype=np.int64).reshape(-1)
        if self.indices.size and (self.indices.min() < 0 or self.indices.max() >= len(cache)):
            raise IndexError(f"clip indices must lie in [0, {len(cache)}) for this cache, got "
                             f"{self.indices.min()}..{self.indices.max()}")
        if crop_frames is not None and crop_frames < 1:
            raise ValueError(f"crop_frames must be a positive number of frames, got {crop_frames}")
        self.crop_frames = crop_frames
        self.train = train
        self.normalize = normalize
        self.seed = seed
        self.epoch = 0
        self.mean = np.asarray(cache.mean if mean is None else mean, dtype=np.float32)
        self.std = np.asarray(cache.std if std is None else std, dtype=np.float32)

    @property
    def labels(self) -> np.ndarray:
        """Class index of each item: (len(self),) int64."""
        return np.asarray(self.cache.labels, dtype=np.int64)[self.indices]

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose random crops ``__getitem__`` draws."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.indices)

    def _start(self, num_frames: int, index: int, epoch: int) -> int:
        """First frame of the crop of a clip of ``num_frames`` frames."""
        room = num_frames - self.crop_frames
        if room <= 0:
            return 0
        if not self.train:
            return room // 2
        rng = np.random.default_rng([self.seed, epoch, index])
        return int(rng.integers(0, room + 1))

    def __getitem__(self, item: int | tuple[int, int]) -> dict[str, torch.Tensor | int]:
        """Item ``item``: {"features": (T, F) float32, "label": int, "index": int}.

        ``item`` may be a pair ``(epoch, item)``: the crop of that epoch whatever
        :meth:`set_epoch` said, for DataLoader workers that persist across epochs (they hold a
        copy of the dataset, so only the sampled keys can tell them the epoch).
        """
        epoch, item = item if isinstance(item, tuple) else (self.epoch, item)
        index = int(self.indices[item])
        clip = self.cache[index]
        if clip.shape[0] == 0:
            raise ValueError(f"clip {index} of the cache has no frames")
        if self.crop_frames is not None:
            clip = crop_clip(clip, self._start(clip.shape[0], index, epoch), self.crop_frames)
        frames = np.array(clip, dtype=np.float32)  # copy out of the memory map
        if self.normalize:
            frames -= self.mean
            frames /= self.std
        return {"features": torch.from_numpy(frames), "label": int(self.cache.labels[index]),
                "index": index}


def collate_clips(items: Sequence[dict]) -> dict[str, torch.Tensor]:
    """Stack items into {"features": (B, T_max, F) zero-padded, "labels", "lengths", "index": (B,)}."""
    clips = [item["features"] for item in items]
    lengths = torch.tensor([clip.shape[0] for clip in clips], dtype=torch.long)
    same_length = bool((lengths == lengths[0]).all())
    features = torch.stack(clips) if same_length else pad_sequence(clips, batch_first=True)
    return {"features": features,
            "labels": torch.tensor([item["label"] for item in items], dtype=torch.long),
            "lengths": lengths,
            "index": torch.tensor([item["index"] for item in items], dtype=torch.long)}


def _band_mask(size: int, limits: torch.Tensor, count: int, max_width: int,
               generator: torch.Generator | None) -> torch.Tensor:
    """Union of ``count`` random bands of width 0..max_width inside [0, limit_b): (B, size) bool."""
    batch = limits.shape[0]
    widths = torch.minimum(torch.randint(0, max_width + 1, (batch, count), generator=generator),
                           limits[:, None])
    starts = (torch.rand((batch, count), generator=generator)
              * (limits[:, None] - widths + 1)).long()
    pos = torch.arange(size)[None, None, :]
    inside = (pos >= starts[..., None]) & (pos < (starts + widths)[..., None])
    return inside.any(dim=1)


class SpecAugment(nn.Module):
    """Frequency and time masking (Park et al., 2019) of (B, T, F) features, in training only.

    Each sample gets ``freq_masks`` bands of 0..``freq_width`` features and ``time_masks``
    bands of 0..``time_width`` frames set to zero (the mean of normalized features); time
    masks fall inside each clip's ``lengths`` when given. The random numbers come from
    ``generator`` (CPU) or, when it is None, from torch's global generator.
    """

    def __init__(self, freq_masks: int = 2, freq_width: int = 8, time_masks: int = 2,
                 time_width: int = 20, *, generator: torch.Generator | None = None) -> None:
        super().__init__()
        for name, value in [("freq_masks", freq_masks), ("freq_width", freq_width),
                            ("time_masks", time_masks), ("time_width", time_width)]:
            if value < 0:
                raise ValueError(f"SpecAugment {name} must be >= 0, got {value}")
        self.freq_masks, self.freq_width = freq_masks, freq_width
        self.time_masks, self.time_width = time_masks, time_width
        self.generator = generator

    def forward(self, features: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Masked copy of (B, T, F) ``features`` in training mode, ``features`` itself in eval."""
        if not self.training:
            return features
        batch, frames, bands = features.shape
        if lengths is None:
            lengths = torch.full((batch,), frames, dtype=torch.long)
        freq = _band_mask(bands, torch.full((batch,), bands, dtype=torch.long), self.freq_masks,
                          self.freq_width, self.generator)
        time = _band_mask(frames, lengths.cpu().clamp(max=frames), self.time_masks,
                          self.time_width, self.generator)
        mask = time[:, :, None] | freq[:, None, :]
        return features.masked_fill(mask.to(features.device), 0.0)

    def extra_repr(self) -> str:
        return (f"freq_masks={self.freq_masks}, freq_width={self.freq_width}, "
                f"time_masks={self.time_masks}, time_width={self.time_width}")


class FreqWarp(nn.Module):
    """Random warping of the frequency axis of (B, T, F) features, in training only: each clip
    gets a factor ``alpha ~ U[1 - max_warp, 1 + max_warp]`` and what sat at frequency f moves to
    alpha * f, as a vocal tract length change would move it (VTLP; Jaitly and Hinton, 2013).

    ``band_hz`` (F,) are the bands' centre frequencies (``FeatureSettings.band_centres``): band k
    of the output is the input interpolated linearly at frequency ``band_hz[k] / alpha``, the
    lowest and highest band held beyond the ends. Random numbers come from ``generator`` (CPU)
    or, when it is None, from torch's global generator.
    """

    def __init__(self, max_warp: float, band_hz: Sequence[float] | np.ndarray, *,
                 generator: torch.Generator | None = None) -> None:
        super().__init__()
        hz = torch.tensor(np.array(band_hz, dtype=np.float64))
        if not 0.0 <= max_warp < 1.0:
            raise ValueError(f"FreqWarp max_warp must be in [0, 1), got {max_warp}")
        if hz.dim() != 1 or hz.numel() < 2 or not bool((hz[1:] > hz[:-1]).all()):
            raise ValueError("FreqWarp band_hz must be >= 2 increasing frequencies")
        self.max_warp, self.generator = max_warp, generator
        self.register_buffer("band_hz", hz, persistent=False)

    def warp(self, features: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
        """``features`` (B, T, F) warped by the factors ``alpha`` (B,)."""
        hz = self.band_hz
        if features.shape[-1] != hz.numel():
            raise ValueError(f"FreqWarp: features have {features.shape[-1]} bands, "
                             f"band_hz has {hz.numel()}")
        source = (hz[None, :] / alpha.to(hz)[:, None]).clamp(hz[0], hz[-1])  # (B, F)
        upper = torch.searchsorted(hz, source).clamp(1, hz.numel() - 1)
        lower = upper - 1
        frac = ((source - hz[lower]) / (hz[upper] - hz[lower])).to(features.dtype)
        shape = (-1, features.shape[1], -1)
        lo = features.gather(2, lower[:, None, :].expand(shape).to(features.device))
        hi = features.gather(2, upper[:, None, :].expand(shape).to(features.device))
        frac = frac[:, None, :].to(features.device)
        return lo + (hi - lo) * frac

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Warped copy of (B, T, F) ``features`` in training mode, ``features`` itself in eval."""
        if not self.training or self.max_warp == 0:
            return features
        u = torch.rand(features.shape[0], generator=self.generator, dtype=torch.float64)
        return self.warp(features, 1.0 + self.max_warp * (2.0 * u - 1.0))

    def extra_repr(self) -> str:
        return f"max_warp={self.max_warp}"


def mixup(features: torch.Tensor, labels: torch.Tensor, alpha: float,
          generator: torch.Generator | None = None
          ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, float]:
    """Mixup (Zhang et al., 2018): lam * x + (1 - lam) * x[perm], lam ~ Beta(alpha, alpha).

    ``features`` (B, ...), ``labels`` (B,) -> (mixed (B, ...), labels_a = labels,
    labels_b = labels[perm], lam); train on ``lam * loss(s, a) + (1 - lam) * loss(s, b)``.
    Random numbers come from ``generator`` (CPU) or torch's global generator.
    """
    if alpha <= 0:
        raise ValueError(f"mixup alpha must be > 0, got {alpha}")
    seed = int(torch.randint(0, 2 ** 62, (1,), generator=generator))
    lam = float(np.random.default_rng(seed).beta(alpha, alpha))
    perm = torch.randperm(features.shape[0], generator=generator).to(features.device)
    mixed = lam * features + (1.0 - lam) * features[perm]
    return mixed, labels, labels[perm], lam


def sliding_windows(features: torch.Tensor, win: int, hop: int) -> torch.Tensor:
    """Windows of ``win`` frames every ``hop`` frames covering a whole (T, F) clip: (N, win, F).

    Windows start at 0, hop, 2 hop, ...; when they do not reach the end, one more window ends
    at the last frame. A clip shorter than ``win`` gives one window, repeated from its start.
    """
    if win < 1 or hop < 1:
        raise ValueError(f"window and hop must be >= 1 frame, got win={win}, hop={hop}")
    num_frames = features.shape[0]
    if num_frames == 0:
        raise ValueError("cannot cut windows from a clip with no frames")
    if num_frames <= win:
        return features[torch.from_numpy(wrap_indices(num_frames, 0, win))][None]
    windows = features.unfold(0, win, hop).transpose(1, 2)  # (N, win, F)
    if (num_frames - win) % hop:
        windows = torch.cat([windows, features[num_frames - win:][None]])
    return windows
