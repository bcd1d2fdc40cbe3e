"""Windows of a normalized series, drawn by index: the chapter's ``generator`` without its Python loop.

For a "current" row ``i`` the sample is ``data[i - lookback : i : step]`` and the target
``data[i + delay, target_idx]``, exactly as in the chapter. :class:`WindowSampler` keeps the int64 rows ``i``
and at most one copy of the rows they read and gathers a batch with one fancy index
(``benchmarks/windows.py``); rows marked ``blocked`` (inside a long gap of the series) are read by no window.

    sampler = WindowSampler(data, target_idx=1, lookback=240, step=1, delay=23, min_index=0, max_index=4000)
    x, y = sampler.batch(np.arange(128))   # (128, 240, F) float32, (128,) float32
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import numpy.typing as npt

from seqlab.errors import DataError

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


# --------------------------------------------------------------------------------------------------- windows


class WindowSampler:
    """Windows of one normalized array, drawn by index: the chapter's generator without its Python loop.

    ``min_index``/``max_index`` mean what they mean in the chapter's ``generator``: current rows ``i`` run over
    ``min_index + lookback <= i < max_index`` (``max_index=None``: ``len(data) - delay - 1``), the sample is
    ``data[i + offsets]`` with ``offsets = arange(-lookback, 0, step)`` (the chapter's
    ``range(i - lookback, i, step)``) and the target ``data[i + delay, target_idx]``. With ``blocked`` (one
    bool per row of ``data``), a row ``i`` whose span ``i - lookback .. i + delay`` holds a blocked row has
    no window: the series is split at its long gaps.

    No window is ever stored. The sampler keeps ``rows`` (int64), the targets (one float per window) and the
    rows its windows read, ``data[min_index:max_index]``: a view when ``step == 1``; when ``step > 1`` one
    copy of them in phase order (rows ``min_index + p, + p + step, ...`` for p = 0..step-1), so every window
    is one contiguous block. A batch is then one fancy index into a strided view of those blocks. Measured on
    the Jena size (lookback 1440, step 6): about 2x faster than gathering from the plain rows, whose stride
    of 6 rows doubles memory traffic, and 5x faster than ``data[rows[:, None] + offsets]``.
    """

    def __init__(
        self,
        data: npt.ArrayLike,
        target_idx: int,
        lookback: int,
        step: int,
        delay: int,
        min_index: int = 0,
        max_index: int | None = None,
        blocked: npt.ArrayLike | None = None,
    ) -> None:
        arr: F32 = np.asarray(data, dtype=np.float32)
        if arr.ndim != 2:
            raise DataError(f"WindowSampler needs a (rows, features) array, got shape {arr.shape}")
        n, n_features = arr.shape
        if lookback < 1 or step < 1 or delay < 0 or not 0 <= target_idx < n_features:
            raise DataError(
                f"WindowSampler: need lookback >= 1, step >= 1, delay >= 0 and 0 <= target_idx < {n_features}; "
                f"got lookback={lookback}, step={step}, delay={delay}, target_idx={target_idx}"
            )
        max_index = n - delay - 1 if max_index is None else max_index
        first = min_index + lookback
        if min_index < 0 or first >= max_index or max_index - 1 + delay >= n:
            raise DataError(
                f"no window fits: lookback={lookback}, delay={delay}, min_index={min_index}, "
                f"max_index={max_index}, series of {n} rows (current rows must satisfy {first} <= i < "
                f"{max_index} and i + delay < {n}); use a longer series or a smaller lookback/delay"
            )
        self.target_idx, self.lookback, self.step, self.delay = target_idx, lookback, step, delay
        self.rows: I64 = np.arange(first, max_index, dtype=np.int64)
        self._first = first
        if blocked is not None:
            self.rows = self.rows[_clear_of(np.asarray(blocked, dtype=bool), self.rows, lookback, delay, n)]
            if len(self.rows) == 0:
                raise DataError(
                    f"no window fits between the long gaps: every window of rows {min_index}..{max_index - 1} "
                    f"(lookback={lookback}, delay={delay}) touches a blocked row; raise data.max_gap_rows to "
                    "interpolate longer gaps, or use a smaller lookback/delay"
                )
        self.offsets: I64 = np.arange(-lookback, 0, step, dtype=np.int64)
        self.targets: F32 = arr[self.rows + delay, target_idx]
        span = arr[min_index:max_index]  # every row a window reads; window k starts at span[k]
        phases = [span[p::step] for p in range(step)]
        self._blocks: F32 = span if step == 1 else np.concatenate(phases)
        starts = np.cumsum([0] + [len(ph) for ph in phases[:-1]])
        self._phase_start: I64 = np.asarray(starts, dtype=np.int64)
        self._windows = self._window_view()

    def _window_view(self) -> F32:
        # A view, no memory of its own: windows[b, j] == _blocks[b + j], shape (blocks, window_steps, F).
        view = np.lib.stride_tricks.sliding_window_view(self._blocks, len(self.offsets), axis=0)
        windows: F32 = view.transpose(0, 2, 1)
        return windows

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        del state["_windows"]  # pickling a view would copy every window
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._windows = self._window_view()

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def window_steps(self) -> int:
        """Time steps per sample: ``lookback // step`` when step divides lookback (ceil otherwise)."""
        return len(self.offsets)

    @property
    def nbytes_own(self) -> int:
        """Bytes this sampler holds beyond the series it was built from (rows, targets, phase-ordered rows)."""
        own = self.rows.nbytes + self.targets.nbytes + self._phase_start.nbytes
        return own + (self._blocks.nbytes if self.step > 1 else 0)

    def batch(self, positions: npt.ArrayLike) -> tuple[F32, F32]:
        """Samples ``(B, window_steps, F)`` and targets ``(B,)`` for window numbers ``positions`` in [0, len)."""
        pos = np.asarray(positions)
        if pos.ndim != 1 or not np.issubdtype(pos.dtype, np.integer):
            raise DataError(f"positions must be a 1-d integer array, got shape {pos.shape} dtype {pos.dtype}")
        if pos.size and (pos.min() < 0 or pos.max() >= len(self.rows)):
            raise DataError(f"positions must lie in [0, {len(self.rows)}), got {pos.min()}..{pos.max()}")
        k = self.rows[pos] - self._first  # the window's start inside the rows it reads
        block = self._phase_start[k % self.step] + k // self.step
        x = np.ascontiguousarray(self._windows[block])  # B contiguous block copies; C order already
        return x, self.targets[pos]

    def iter_batches(
        self, batch_size: int, shuffle: bool = False, seed: int | None = None
    ) -> Iterator[tuple[F32, F32]]:
        """One pass over every window (a permutation when ``shuffle``); the last batch may be short."""
        order = np.random.default_rng(seed).permutation(len(self)) if shuffle else np.arange(len(self))
        for start in range(0, len(order), batch_size):
            yield self.batch(order[start : start + batch_size])


def chapter_generator(
    data: npt.NDArray[Any],
    lookback: int,
    delay: int,
    min_index: int,
    max_index: int | None,
    shuffle: bool = False,
    batch_size: int = 128,
    step: int = 6,
    target_idx: int = 1,
) -> Iterator[tuple[F64, F64]]:
    """The book's ``generator``, line for line (plus ``target_idx``, hard-coded 1 there): the reference."""
    if max_index is None:
        max_index = len(data) - delay - 1
    i = min_index + lookback
    while 1:
        if shuffle:
            rows = np.random.randint(min_index + lookback, max_index, size=batch_size)
        else:
            if i + batch_size >= max_index:
                i = min_index + lookback
            rows = np.arange(i, min(i + batch_size, max_index))
            i += len(rows)
        samples = np.zeros((len(rows), lookback // step, data.shape[-1]))
        targets = np.zeros((len(rows),))
        for j, row in enumerate(rows):
            indices = range(row - lookback, row, step)
            samples[j] = data[indices]
            targets[j] = data[row + delay][target_idx]
        yield samples, targets


def common_sense_mae(data_norm: npt.NDArray[Any], target_idx: int, sampler: WindowSampler) -> float:
    """MAE of "the target ``delay`` rows later equals the last observed target", over every window.

    "Last observed" is the last row of the sample, as in the chapter's ``samples[:, -1, 1]``.
    """
    last = data_norm[sampler.rows + sampler.offsets[-1], target_idx].astype(np.float64)
    future = data_norm[sampler.rows + sampler.delay, target_idx].astype(np.float64)
    return float(np.mean(np.abs(future - last)))


def _clear_of(blocked: npt.NDArray[np.bool_], rows: I64, lookback: int, delay: int, n: int) -> npt.NDArray[np.bool_]:
    """For each current row i: True when no row of ``i - lookback .. i + delay`` is blocked."""
    if blocked.shape != (n,):
        raise DataError(f"WindowSampler: blocked must have one bool per row ({n}), got shape {blocked.shape}")
    seen = np.concatenate([[0], np.cumsum(blocked, dtype=np.int64)])  # seen[j] = blocked rows before j
    clear: npt.NDArray[np.bool_] = seen[rows + delay + 1] - seen[rows - lookback] == 0
    return clear
