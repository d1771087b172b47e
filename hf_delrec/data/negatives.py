"""Negative sampling: distinct items from 1..num_items, none in an exclusion set, uniform or by popularity,
deterministic for a seed.

Vectorised "oversample and reject": draw a (rows × width) matrix, mark draws that are excluded (a sorted array of
``row * (num_items + 1) + item`` keys, looked up with ``searchsorted``) or repeat an earlier draw of the same row,
and keep the first ``n`` valid draws per row. Rows that came up short are redrawn with a wider matrix; rows whose
exclusion set leaves few items fall back to an exact draw from the remaining items.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

from .errors import DataConfigError


class NegativeSampler:
    """``NegativeSampler(num_items, popularity=None, seed=0)``.

    ``popularity`` (length ``num_items + 1``, index = item id, index 0 ignored) switches from uniform to
    popularity-proportional sampling. Each call advances the generator, so a fixed sequence of calls is reproducible.
    """

    def __init__(self, num_items: int, popularity: Sequence[float] | np.ndarray | None = None, seed: int = 0):
        if num_items < 1:
            raise DataConfigError(f"must be >= 1, got {num_items}", field="num_items")
        self.num_items = int(num_items)
        self.rng = np.random.default_rng(seed)
        self.cdf = None
        self.probs = None
        if popularity is not None:
            pop = np.asarray(popularity, dtype=np.float64)
            if pop.shape != (self.num_items + 1,):
                raise DataConfigError(
                    f"expected {self.num_items + 1} values (index = item id, 0 = padding), got {pop.shape}",
                    field="popularity",
                )
            pop = pop.copy()
            pop[0] = 0.0
            if (pop < 0).any() or not np.isfinite(pop).all() or pop.sum() <= 0:
                raise DataConfigError("must be finite, >= 0 and not all zero", field="popularity")
            self.probs = pop[1:] / pop[1:].sum()
            self.cdf = np.cumsum(self.probs)
            self.cdf[-1] = 1.0

    # ------------------------------------------------------------------------------------------------------ API
    def sample(self, exclude: Iterable[int], n: int) -> np.ndarray:
        """``n`` distinct items not in ``exclude``."""
        values = np.fromiter((int(x) for x in exclude), dtype=np.int64)
        return self.sample_batch(values, np.array([0, values.shape[0]], dtype=np.int64), n)[0]

    def sample_batch(self, exclude_values: np.ndarray, exclude_offsets: np.ndarray, n: int) -> np.ndarray:
        """(rows, n) negatives; row r excludes ``exclude_values[exclude_offsets[r]:exclude_offsets[r + 1]]``."""
        exclude_values = np.asarray(exclude_values, dtype=np.int64)
        exclude_offsets = np.asarray(exclude_offsets, dtype=np.int64)
        rows = exclude_offsets.shape[0] - 1
        out = np.zeros((rows, n), dtype=np.int64)
        if rows == 0 or n == 0:
            return out
        N = self.num_items
        row_of = np.repeat(np.arange(rows, dtype=np.int64), np.diff(exclude_offsets))
        valid_ex = (exclude_values >= 1) & (exclude_values <= N)
        keys = np.sort(row_of[valid_ex] * (N + 1) + exclude_values[valid_ex])
        if keys.size:
            keys = keys[np.concatenate([[True], keys[1:] != keys[:-1]])]
        n_excluded = np.bincount(keys // (N + 1), minlength=rows)
        available = N - n_excluded
        if (available < n).any():
            r = int(np.flatnonzero(available < n)[0])
            raise DataConfigError(
                f"row {r} excludes {int(n_excluded[r])} of {N} items, leaving {int(available[r])} < {n} negatives; "
                "lower num_negatives",
                field="num_negatives",
            )
        if self.probs is not None:
            # Popularity sampling can only reach items with non-zero popularity.
            reachable = np.ones(rows, dtype=np.int64) * int(np.count_nonzero(self.probs))
            zero_pop = np.flatnonzero(self.probs == 0) + 1
            if zero_pop.size:
                # excluded items that have zero popularity do not reduce the reachable pool
                ex_items = keys % (N + 1)
                ex_rows = keys // (N + 1)
                hit = np.isin(ex_items, zero_pop)
                reachable -= np.bincount(ex_rows[~hit], minlength=rows)
            else:
                reachable -= n_excluded
            if (reachable < n).any():
                r = int(np.flatnonzero(reachable < n)[0])
                raise DataConfigError(
                    f"row {r}: only {int(reachable[r])} items with non-zero popularity are left, need {n}",
                    field="num_negatives",
                )

        # probability that one draw is not excluded (uniform: share of items left; popularity: mass left) and
        # the chance that two draws collide (1/N, or sum p² by popularity)
        if self.probs is None:
            accept = available / N
            collide = 1.0 / N
        else:
            mass = np.bincount(keys // (N + 1), weights=self.probs[keys % (N + 1) - 1], minlength=rows)
            accept = np.clip(1.0 - mass, 0.0, 1.0)
            collide = float(np.sum(self.probs**2))
        pending = np.arange(rows, dtype=np.int64)
        # draws needed for n valid ones: n / f plus ~4 sigma of binomial rejections plus expected repeats (n²/2N,
        # doubled); rows that still come up short are redrawn with a doubled width.
        factor = 1.0
        for _ in range(4):
            if pending.size == 0:
                break
            f = float(np.clip(np.median(accept[pending]), 1e-9, 1.0))
            need = n / f + 4 * np.sqrt(n * (1 - f)) / f + n * n * collide
            width = int(min(np.ceil(need * factor) + 8, max(8 * N, n + 8)))
            draws = self._draw((pending.size, width))
            got, ok = self._accept(draws, pending, keys, n)
            out[pending[ok]] = got
            pending = pending[~ok]
            factor *= 2
        for r in pending:  # rare: nearly exhausted rows → exact sampling from what is left
            ex = keys[(keys // (N + 1)) == r] % (N + 1)
            pool = np.setdiff1d(np.arange(1, N + 1, dtype=np.int64), ex, assume_unique=True)
            p = None
            if self.probs is not None:
                p = self.probs[pool - 1]
                pool, p = pool[p > 0], p[p > 0]
                p = p / p.sum()
            out[r] = self.rng.choice(pool, size=n, replace=False, p=p)
        return out

    # ------------------------------------------------------------------------------------------------ internals
    def _draw(self, shape: tuple[int, int]) -> np.ndarray:
        if self.cdf is None:
            dtype = np.int32 if self.num_items < 2**31 - 1 else np.int64
            return self.rng.integers(1, self.num_items + 1, size=shape, dtype=dtype)
        u = self.rng.random(shape)
        return np.minimum(np.searchsorted(self.cdf, u, side="right"), self.num_items - 1) + 1

    def _accept(self, draws: np.ndarray, rows: np.ndarray, keys: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        """First ``n`` valid draws of each row; returns (values for the rows that have enough, mask of those rows).

        A cheap pass first: sort each row (values only), which exposes repeats as equal neighbours and makes the
        flattened ``row * (N + 1) + draw`` globally sorted, so each exclusion key is found with one ``searchsorted``
        (far fewer queries than draws). Rows with neither a repeat nor an excluded draw take their first ``n`` draws
        as they are; only the others go through the exact (argsort) pass.
        """
        N = self.num_items
        s = np.sort(draws, axis=1)
        affected = (s[:, 1:] == s[:, :-1]).any(axis=1)
        if keys.size:
            flat = (rows[:, None] * (N + 1) + s).ravel()
            pos = np.minimum(np.searchsorted(flat, keys), flat.size - 1)
            hit = flat[pos] == keys
            if hit.any():
                affected[np.searchsorted(rows, keys[hit] // (N + 1))] = True
            del flat
        del s
        ok = np.ones(rows.shape[0], dtype=bool)
        result = np.empty((rows.shape[0], n), dtype=np.int64)
        clean = ~affected
        result[clean] = draws[clean, :n]
        if affected.any():
            sub = rows[affected]
            # only the exclusion keys of these rows (keys are sorted by row)
            start = np.searchsorted(keys, sub * (N + 1), side="left")
            end = np.searchsorted(keys, (sub + 1) * (N + 1), side="left")
            cnt = end - start
            sel = np.repeat(start - np.concatenate([[0], np.cumsum(cnt)[:-1]]), cnt) + np.arange(int(cnt.sum()))
            got, ok_a = self._accept_exact(draws[affected], sub, keys[sel], n)
            idx = np.flatnonzero(affected)
            ok[idx[~ok_a]] = False
            result[idx[ok_a]] = got
        return result[ok], ok

    def _accept_exact(
        self, draws: np.ndarray, rows: np.ndarray, keys: np.ndarray, n: int
    ) -> tuple[np.ndarray, np.ndarray]:
        N = self.num_items
        m = draws.shape[1]
        order = np.argsort(draws, axis=1, kind="stable")  # stable: the first draw of a repeated value stays valid
        sorted_draws = np.take_along_axis(draws, order, axis=1)
        invalid_sorted = np.zeros(draws.shape, dtype=bool)
        invalid_sorted[:, 1:] = sorted_draws[:, 1:] == sorted_draws[:, :-1]
        if keys.size:
            # keys of rows not in ``rows`` never equal a flat entry (different row prefix): lo == hi, no mark
            flat = (rows[:, None] * (N + 1) + sorted_draws).ravel()
            # a key equals at most the first of its run of equal draws; the rest of the run are repeats anyway
            pos = np.minimum(np.searchsorted(flat, keys), flat.size - 1)
            hit = flat[pos] == keys
            invalid_flat = invalid_sorted.reshape(-1)
            invalid_flat[pos[hit]] = True
        invalid = np.empty_like(invalid_sorted)
        np.put_along_axis(invalid, order, invalid_sorted, axis=1)
        valid = ~invalid
        csum = np.cumsum(valid, axis=1, dtype=np.int32)
        ok = csum[:, m - 1] >= n
        take = valid[ok] & (csum[ok] <= n)
        return draws[ok][take].reshape(-1, n).astype(np.int64), ok
