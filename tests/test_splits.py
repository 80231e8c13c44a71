"""The three MC splits by generated event number (sensitivity/splits.py): exact counts, exact weights."""

from __future__ import annotations

import numpy as np
import pytest

from sensitivity.splits import PARTS, SPLITS, generated_in_part, in_part, weight_scale


@pytest.mark.parametrize("n", [1, 2, 3, 10, 11, 1_000_000, 72_000_001])
def test_generated_counts_of_the_splits_are_exact_and_add_up(n):
    events = np.arange(1, min(n, 100_000) + 1)
    counts = [generated_in_part(n, s) for s in SPLITS]
    assert sum(counts) == n and max(counts) - min(counts) <= 1
    if n <= 100_000:  # the count is that of the event numbers the mask puts in the split
        assert counts == [int(in_part(events, s).sum()) for s in SPLITS]
    assert generated_in_part(n, "fit") == counts[0] + counts[1] and generated_in_part(n, "all") == n


def test_splits_are_disjoint_and_a_part_is_the_union_of_its_splits():
    events = np.random.default_rng(1).integers(1, 10**9, 10_000)
    masks = {s: in_part(events, s) for s in SPLITS}
    assert np.all(sum(m.astype(int) for m in masks.values()) == 1)
    for part, splits in PARTS.items():
        np.testing.assert_array_equal(in_part(events, part), np.any([masks[s] for s in splits], axis=0))
    assert in_part(np.array([1, 2, 3, 4]), "evaluation").tolist() == [False, False, True, False]


def test_weights_of_a_split_reproduce_the_yield_of_the_whole_sample():
    """A region's weighted count in each split estimates the same yield: xsec L / n_split per event, within statistics."""
    n, weight = 300_000, 0.2
    rng = np.random.default_rng(5)
    events = np.flatnonzero(rng.random(n) < 0.05) + 1  # the ~5% of generated events that pass some selection
    total = len(events) * weight
    for split in SPLITS:
        estimate = in_part(events, split).sum() * weight * weight_scale(n, split)
        sigma = np.sqrt(in_part(events, split).sum()) * weight * weight_scale(n, split)
        assert abs(estimate - total) < 4 * sigma
    with pytest.raises(ValueError, match="part must be one of"):
        in_part(events, "validation")
    with pytest.raises(ValueError, match="has none in part"):
        weight_scale(1, "threshold")


@pytest.mark.parametrize("thin", [1, 2, 7, 10])
@pytest.mark.parametrize("n", [1, 5, 31, 100_000, 72_000_001])
def test_thinned_parts_count_exactly(n, thin):
    """'<part>/K' keeps every K-th event of each split; its generated count is that of the numbers it keeps."""
    events = np.arange(1, min(n, 100_000) + 1)
    for part in ("train", "threshold", "evaluation", "fit", "all"):
        name = f"{part}/{thin}"
        count = generated_in_part(n, name)
        if n <= 100_000:
            assert count == int(in_part(events, name).sum())
        assert count * thin >= generated_in_part(n, part) > (count - len(PARTS[part])) * thin
    sub = in_part(events, f"fit/{thin}")
    assert np.all(in_part(events[sub], "fit")) and not np.any(in_part(events[sub], "evaluation"))


def test_a_thinned_part_estimates_the_same_yield():
    n, weight = 3_000_000, 0.5
    events = np.flatnonzero(np.random.default_rng(9).random(n) < 0.02) + 1
    total = len(events) * weight
    for name in ("train/10", "fit/4"):
        kept = in_part(events, name).sum()
        estimate, sigma = kept * weight * weight_scale(n, name), np.sqrt(kept) * weight * weight_scale(n, name)
        assert abs(estimate - total) < 4 * sigma
    for bad in ("train/0", "train/x", "fit/-1", "nothing/2"):
        with pytest.raises(ValueError, match="optionally thinned"):
            in_part(events, bad)
