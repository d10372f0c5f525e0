"""Blockwise L2 distances in matrix-multiply form (torch, CPU or CUDA).

``||x - y|| = sqrt(|x|^2 + |y|^2 - 2 x.y)`` computed one ``[block, block]`` tile at a time, so peak
memory is ``O(block^2 + (N + M) * D)`` and never ``N x M x D``. Group averages (tiles of one lot,
bank images of one texture class) are accumulated per block, so the full ``N x M`` matrix is never
held either when ``row_groups``/``col_groups`` are given.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

DEFAULT_BLOCK = 4096


def _as_tensor(a: np.ndarray | torch.Tensor, device: str | torch.device) -> torch.Tensor:
    t = torch.as_tensor(a)
    return t.to(device=device, dtype=torch.float32 if t.dtype != torch.float64 else t.dtype)


def distance_blocks(
    x: torch.Tensor, y: torch.Tensor, block: int = DEFAULT_BLOCK
) -> Iterator[tuple[slice, slice, torch.Tensor]]:
    """Yield ``(rows, cols, d)`` with ``d[i, j] = ||x[rows][i] - y[cols][j]||`` (``[<=block, <=block]``).

    ``x``: ``[N, D]``, ``y``: ``[M, D]`` on the same device.
    """
    x2 = (x * x).sum(1)
    y2 = (y * y).sum(1)
    for r0 in range(0, x.shape[0], block):
        rows = slice(r0, min(r0 + block, x.shape[0]))
        for c0 in range(0, y.shape[0], block):
            cols = slice(c0, min(c0 + block, y.shape[0]))
            sq = torch.addmm(x2[rows, None] + y2[None, cols], x[rows], y[cols].T, alpha=-2.0)
            yield rows, cols, sq.clamp_min_(0.0).sqrt_()


def _group_matrix(groups: np.ndarray, device, dtype) -> tuple[torch.Tensor, int]:
    """``[n, G]`` averaging matrix: column g holds ``1/count_g`` at the members of group g."""
    g = torch.as_tensor(np.asarray(groups, dtype=np.int64), device=device)
    n_groups = int(g.max()) + 1
    onehot = torch.zeros(len(g), n_groups, device=device, dtype=dtype)
    onehot[torch.arange(len(g), device=device), g] = 1.0
    counts = onehot.sum(0)
    if bool((counts == 0).any()):
        raise ValueError("every group index in 0..max must have at least one member")
    return onehot / counts, n_groups


def grouped_mean_distances(
    x: np.ndarray | torch.Tensor,
    y: np.ndarray | torch.Tensor,
    row_groups: np.ndarray | None = None,
    col_groups: np.ndarray | None = None,
    block: int = DEFAULT_BLOCK,
    device: str | torch.device = "cpu",
) -> np.ndarray:
    """Mean L2 distance between groups of rows of ``x`` and groups of rows of ``y``.

    ``x``: ``[N, D]`` features (e.g. SEM tiles), ``y``: ``[M, D]`` (e.g. bank images);
    ``row_groups``: ``int [N]`` group index per row (lot), ``col_groups``: ``int [M]`` (texture class);
    ``None`` keeps the rows/columns ungrouped. Returns ``float64 [G_rows or N, G_cols or M]`` with
    entry ``(a, b)`` = mean over members i of a and j of b of ``||x_i - y_j||`` (paper eq. 4.2/4.3).
    """
    xt, yt = _as_tensor(x, device), _as_tensor(y, device)
    dtype = xt.dtype
    row_avg = _group_matrix(row_groups, device, dtype)[0] if row_groups is not None else None
    col_avg = _group_matrix(col_groups, device, dtype)[0] if col_groups is not None else None
    n_out = row_avg.shape[1] if row_avg is not None else xt.shape[0]
    m_out = col_avg.shape[1] if col_avg is not None else yt.shape[0]
    if row_avg is None and col_avg is None:
        out = torch.empty(n_out, m_out, device=device, dtype=dtype)
    else:
        out = torch.zeros(n_out, m_out, device=device, dtype=torch.float64)
    for rows, cols, d in distance_blocks(xt, yt, block):
        if col_avg is not None:
            d = d @ col_avg[cols]
            cols = slice(None)
        if row_avg is not None:
            out[:, cols] += (row_avg[rows].T @ d).double()
        elif col_avg is not None:
            out[rows] += d.double()
        else:
            out[rows, cols] = d
    return out.double().cpu().numpy()


def nearest(
    x: np.ndarray | torch.Tensor,
    y: np.ndarray | torch.Tensor,
    k: int = 9,
    block: int = DEFAULT_BLOCK,
    device: str | torch.device = "cpu",
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` rows of ``y`` nearest (L2) to each row of ``x``, closest first.

    Returns ``(indices int64 [N, k], distances float64 [N, k])``; ties keep the lower index first.
    Streams over ``y`` in blocks, merging a running top-k per row (memory ``O(block * (block + k))``).
    """
    xt, yt = _as_tensor(x, device), _as_tensor(y, device)
    k = min(k, yt.shape[0])
    out_i = torch.empty(xt.shape[0], k, dtype=torch.int64)
    out_d = torch.empty(xt.shape[0], k, dtype=torch.float64)
    run_d: torch.Tensor | None = None
    run_i: torch.Tensor | None = None
    for rows, cols, d in distance_blocks(xt, yt, block):
        idx = torch.arange(cols.start, cols.stop, device=device).expand(d.shape[0], -1)
        cand_d = d if run_d is None else torch.cat([run_d, d], 1)
        cand_i = idx if run_i is None else torch.cat([run_i, idx], 1)
        order = torch.sort(cand_d, dim=1, stable=True).indices[:, :k]  # candidates are in index order
        run_d, run_i = cand_d.gather(1, order), cand_i.gather(1, order)
        if cols.stop == yt.shape[0]:
            out_i[rows], out_d[rows] = run_i.cpu(), run_d.double().cpu()
            run_d = run_i = None
    return out_i.numpy(), out_d.numpy()
