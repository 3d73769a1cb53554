"""Vectorized cosine scoring of trials over an embedding matrix (no per-trial Python loop)."""

from __future__ import annotations

import warnings

import numpy as np
import torch

from audiocs.scoring.io import l2_normalize


def subtract_mean(vectors: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """Rows of `vectors` (N, D) minus `mean` (D,), re-normalized to unit length."""
    return l2_normalize(np.asarray(vectors, np.float32) - np.asarray(mean, np.float32)[None, :])


def _lexsort_rows(a: np.ndarray, b: np.ndarray, n: int) -> np.ndarray:
    """Order sorting pairs (a, b) of row indices < n by a, then b (radix sort when n < 2**16)."""
    if n < 2**16:
        o = np.argsort(b.astype(np.uint16), kind="stable")
        return o[np.argsort(a[o].astype(np.uint16), kind="stable")]
    return np.lexsort((b, a))


def _sampled_dot(x: torch.Tensor, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """x[a[k]] . x[b[k]] for K pairs of rows of x (N, D): one sampled dense-dense matmul over sorted unique pairs."""
    n = x.shape[0]
    order = _lexsort_rows(a, b, n)
    sa, sb = a[order], b[order]
    new = np.ones(len(order), bool)
    new[1:] = (sa[1:] != sa[:-1]) | (sb[1:] != sb[:-1])
    slot = np.cumsum(new) - 1  # position of each sorted trial among the unique pairs
    ua, ub = sa[new], sb[new]
    crow = np.zeros(n + 1, np.int64)
    np.cumsum(np.bincount(ua, minlength=n), out=crow[1:])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "sparse CSR support is in beta"
        pattern = torch.sparse_csr_tensor(torch.from_numpy(crow), torch.from_numpy(ub),
                                          torch.zeros(len(ua), dtype=x.dtype), size=(n, n))
        values = torch.sparse.sampled_addmm(pattern, x, x.T, beta=0.0).values().numpy()
    out = np.empty(len(a), np.float32)
    out[order] = values[slot]
    return out


def _dense_dot(x: np.ndarray, a: np.ndarray, b: np.ndarray, chunk: int) -> np.ndarray:
    """x[a[k]] . x[b[k]] via matrix products of the unique rows of a against the unique rows of b."""
    ua, ia = np.unique(a, return_inverse=True)
    ub, ib = np.unique(b, return_inverse=True)
    right = torch.from_numpy(np.ascontiguousarray(x[ub].T))
    out = np.empty(len(a), np.float32)
    order = np.argsort(ia, kind="stable")
    bounds = np.searchsorted(ia[order], np.arange(0, len(ua) + chunk, chunk))
    for k, start in enumerate(range(0, len(ua), chunk)):
        block = (torch.from_numpy(x[ua[start:start + chunk]]) @ right).numpy()
        sel = order[bounds[k]:bounds[k + 1]]
        out[sel] = block[ia[sel] - start, ib[sel]]
    return out


def cosine_scores(vectors: np.ndarray, enroll: np.ndarray, test: np.ndarray, *, normalize: bool = True,
                  dense_factor: float = 4.0, chunk: int = 4096) -> np.ndarray:
    """Cosine scores (K,) float32 of the row pairs (enroll[k], test[k]) of `vectors` (N, D).

    Uses one matrix product over the unique enroll x unique test ids when that grid has at most
    dense_factor * K cells (e.g. all-pairs lists), else a sampled dense-dense matmul over the pairs.
    """
    x = l2_normalize(vectors) if normalize else np.ascontiguousarray(vectors, np.float32)
    enroll = np.asarray(enroll, np.int64)
    test = np.asarray(test, np.int64)
    if len(enroll) == 0:
        return np.zeros(0, np.float32)
    n = len(x)
    ue = np.count_nonzero(np.bincount(enroll, minlength=n))
    ut = np.count_nonzero(np.bincount(test, minlength=n))
    if ue * ut <= dense_factor * len(enroll):
        return _dense_dot(x, enroll, test, chunk)
    return _sampled_dot(torch.from_numpy(x), enroll, test)
