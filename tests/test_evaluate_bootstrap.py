"""The paired bootstrap's draws per cell (evaluate/bootstrap.py): plain NumPy, no Spark."""

from __future__ import annotations

import numpy as np
import pytest

from imbalance_spark.evaluate.bootstrap import pr_auc_from_bins, replicate_counts

# (F = 1's bin, the scored F's bin, label, rows): two models that mostly agree on 3 bins
CELLS = np.array([
    (0, 0, 0, 900), (0, 1, 0, 60), (1, 1, 0, 500), (1, 2, 1, 30), (2, 2, 0, 80), (2, 2, 1, 70), (2, 1, 1, 10),
])


def test_replicate_zero_is_the_sample_and_the_others_poisson():
    pos, neg = replicate_counts(CELLS, replicates=2000, seed=3)
    assert pos.shape == neg.shape == (2, 2001, 3)
    # replicate 0: the cells' own counts per model's bin, highest score first
    assert pos[0, 0].tolist() == [80, 30, 0] and neg[0, 0].tolist() == [80, 500, 960]
    assert pos[1, 0].tolist() == [100, 10, 0] and neg[1, 0].tolist() == [80, 560, 900]
    # a cell of n rows drawn Poisson(1) each is Poisson(n): mean n, variance n (5 s.e. bounds)
    draws = neg[0, 1:, 2]  # F = 1's lowest bin: the cells of 900 and 60 rows
    assert abs(draws.mean() - 960) < 5 * np.sqrt(960 / 2000)
    assert 0.8 < draws.var(ddof=1) / 960 < 1.2


def test_both_models_see_the_same_draw_of_a_row():
    pos, neg = replicate_counts(CELLS, replicates=50, seed=1)
    # every replicate draws the same rows for both models: equal totals per label
    assert np.array_equal(pos[0].sum(axis=-1), pos[1].sum(axis=-1))
    assert np.array_equal(neg[0].sum(axis=-1), neg[1].sum(axis=-1))
    again = replicate_counts(CELLS, replicates=50, seed=1)
    assert np.array_equal(again[0], pos) and np.array_equal(again[1], neg)
    assert not np.array_equal(replicate_counts(CELLS, replicates=50, seed=2)[0], pos)


def test_same_bins_give_the_same_area_in_every_replicate():
    same = CELLS.copy()
    same[:, 1] = same[:, 0]
    pos, neg = replicate_counts(same, replicates=30, seed=4)
    area = pr_auc_from_bins(pos, neg)
    assert np.array_equal(area[0], area[1]) and area[0, 0] == pytest.approx(pr_auc_from_bins(pos[0, 0], neg[0, 0]))
