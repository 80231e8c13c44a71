"""The five-class BDT, its score cut, the xi limits and the scalar (g-2)_mu band.

The classifier is trained on the exported features of a small generated sample with
candidates of all five classes; on the held-back (odd-numbered) events its five
probabilities must sum to one and it must beat a random guess (class-weighted log-loss
well below log 5, accuracy well above 1/5). The limit tests use numbers whose answer
is known by hand.
"""

import math

import numpy as np
import pandas as pd
import pytest

import run
from belle_mc.channels import CHANNELS
from belle_mc.production import produce
from core.constants import HIGGS_VEV_GEV, MUON_MASS_GEV
from selections.scalar_selection import CLASSES, PairMassWindow, WindowTable
from sensitivity import scalar_bdt as bdt
from sensitivity.features import load_features
from sensitivity.scalar_limits import delta_a_mu_scalar, g2_band_xi, xi_limits
from core.scalar_model import branching_fraction

# --- (g-2)_mu of a scalar --------------------------------------------------------------------------


def test_light_scalar_gives_three_halves_of_the_yukawa_term():
    y2 = (MUON_MASS_GEV / HIGGS_VEV_GEV) ** 2
    assert float(delta_a_mu_scalar(1.0, 1e-6)) == pytest.approx(1.5 * y2 / (8 * math.pi**2), rel=1e-4)


def test_heavy_scalar_follows_the_logarithmic_asymptote():
    m = 50.0  # GeV >> m_mu: Delta a = y^2/(8 pi^2) (m_mu/m)^2 (ln(m^2/m_mu^2) - 7/6)
    y2 = (MUON_MASS_GEV / HIGGS_VEV_GEV) ** 2
    r2 = (MUON_MASS_GEV / m) ** 2
    assert float(delta_a_mu_scalar(2.0, m)) == pytest.approx(4 * y2 / (8 * math.pi**2) * r2 * (math.log(1 / r2) - 7 / 6), rel=1e-3)


def test_g2_band_is_ordered_and_rises_with_mass():
    band = g2_band_xi(np.array([0.05, 1.0, 6.0]))
    assert np.all(band.lower < band.central) and np.all(band.central < band.upper)
    assert np.all(np.diff(band.central) > 0)


# --- limits -------------------------------------------------------------------------------------------


def _yields(signal, background, background_stat, mphi=1.0):
    return bdt.WindowYields(
        mphi_gev=mphi, score_cut=0.5, efficiency=0.1, efficiency_stat=0.01, signal_yield_xi1=signal,
        background=background, background_stat=background_stat, background_direct=background,
        background_direct_mc_count=0, background_window=background, bdt_background_fraction=1.0, composition={},
    )  # fmt: skip


def test_zero_background_limit_is_2p3_signal_events():
    s1 = 40.0
    rows, workspaces = xi_limits([_yields(s1, 0.0, 0.0)])
    events = rows[0]["xi_exp"] ** 2 * s1 * float(branching_fraction(1.0, "mumu"))
    assert events == pytest.approx(-math.log(0.1), rel=1e-3)  # CLs = exp(-s) = 0.1
    assert list(workspaces) == [1000]


def test_limit_grows_like_the_fourth_root_of_the_background():
    rows, _ = xi_limits([_yields(1e4, 1e4, 0.0), _yields(1e4, 16e4, 0.0)])
    ratio = rows[1]["xi_exp"] / rows[0]["xi_exp"]
    assert ratio == pytest.approx(2.0, rel=0.05)  # S_up ~ sqrt(B): xi ~ B^(1/4)


# --- the classifier on generated events -------------------------------------------------------------

BDT_SAMPLE = {
    # (channel, mass): generated events; one or more channels per class
    ("signal_ttphi", 0.5): 4_000,
    ("signal_ttphi", 2.0): 4_000,
    ("kkmc_tautau", None): 60_000,
    ("aafh_mumutautau", None): 6_000,
    ("aafh_mumumumu", None): 20_000,
    ("pythia_uds", None): 30_000,
    ("pythia_charm", None): 30_000,
    ("pythia_bbbar", None): 20_000,
}


@pytest.fixture(scope="module")
def bdt_frame(tmp_path_factory):
    missing = sorted({ch for ch, _ in BDT_SAMPLE} - set(CHANNELS))
    if missing:
        pytest.fail(f"generator channels missing: {', '.join(missing)}")
    sample = tmp_path_factory.mktemp("bdt_sample")
    for (channel, mass), n in BDT_SAMPLE.items():
        produce(channel, n, sample, mass=mass, seed=5, events_per_file=100_000, progress=False)
    out = tmp_path_factory.mktemp("bdt_run")
    code = run.main(
        ["--analysis", "scalar", "--fileset", str(sample / "fileset.json"), "--executor", "iterative",
         "--output", str(out / "scalar.pkl"), "--features", str(out / "features")]
    )  # fmt: skip
    assert code == 0
    return bdt.bdt_candidates(load_features(out / "features"))


@pytest.fixture(scope="module")
def trained(bdt_frame):
    train = bdt.part_mask(bdt_frame, "train")
    model = bdt.train_classifier(bdt_frame[train], n_estimators=60)
    return model, train


def test_every_class_has_candidates(bdt_frame):
    counts = np.bincount(bdt_frame["class_label"], minlength=len(CLASSES))
    assert np.all(counts > 0), dict(zip(CLASSES, counts))


def test_five_probabilities_sum_to_one_and_beat_random_on_held_back_events(bdt_frame, trained):
    model, train = trained
    held = bdt_frame[~train]
    proba = bdt.predict_probabilities(model, held)
    assert proba.shape == (len(held), 5)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-9)
    labels = held["class_label"].to_numpy()
    weights = bdt.class_weights(held)
    log_loss = np.sum(weights * -np.log(np.clip(proba[np.arange(len(held)), labels], 1e-15, 1))) / weights.sum()
    accuracy = np.sum(weights * (proba.argmax(axis=1) == labels)) / weights.sum()
    assert log_loss < 0.75 * math.log(5.0)
    assert accuracy > 0.4
    # signal against everything else: P(signal) ranks a held-back signal above a background more often than not
    signal = labels == 0
    p = proba[:, 0]
    auc = (p[signal][:, None] > p[~signal][None, :]).mean()
    assert auc > 0.75


def test_model_round_trips_through_joblib(bdt_frame, trained, tmp_path):
    model, _ = trained
    path = bdt.save_model(model, tmp_path / "bdt.joblib")
    again = bdt.load_model(path)
    np.testing.assert_array_equal(again.predict_proba(bdt_frame[list(bdt.BDT_FEATURES)].to_numpy()[:50]),
                                  model.predict_proba(bdt_frame[list(bdt.BDT_FEATURES)].to_numpy()[:50]))  # fmt: skip


def test_score_cut_keeps_signal_and_splits_are_disjoint(bdt_frame, trained):
    model, _ = trained
    parts = [bdt.part_mask(bdt_frame, p) for p in bdt.PARTS]
    assert np.all(sum(p.astype(int) for p in parts) == 1)  # every candidate in exactly one part
    table = WindowTable((PairMassWindow(0.5, 0.004), PairMassWindow(2.0, 0.0075)), 3.0)
    p_signal = bdt.predict_probabilities(model, bdt_frame)[:, 0]
    cut = bdt.optimise_score_cut(bdt_frame, p_signal, table, 2.0)
    loose = bdt.window_yields(bdt_frame, p_signal, table, 2.0, 0.0, "evaluation")
    chosen = bdt.window_yields(bdt_frame, p_signal, table, 2.0, cut, "evaluation")
    assert 0.0 < chosen.efficiency <= loose.efficiency
    assert chosen.background <= loose.background
    assert set(chosen.composition) == set(CLASSES[1:])


def test_training_refuses_a_missing_class(bdt_frame):
    no_bbbar = bdt_frame[bdt_frame["class_label"] != 4]
    with pytest.raises(ValueError, match="bbbar"):
        bdt.train_classifier(no_bbbar, n_estimators=2)


def test_class_weights_give_every_class_the_same_total(bdt_frame):
    w = bdt.class_weights(bdt_frame)
    totals = pd.Series(w).groupby(bdt_frame["class_label"].to_numpy()).sum()
    np.testing.assert_allclose(totals.to_numpy(), totals.iloc[0], rtol=1e-9)


def test_part_weights_are_exact_per_dataset():
    """A part's weight is each dataset's n_generated / (its generated events in the part) times the weight: exact
    for any n_generated (the splits of sensitivity/splits.py, shared with the invisible-Z' study)."""
    from sensitivity.splits import generated_in_part

    frame = pd.DataFrame({"weight": [2.0, 2.0, 0.5], "n_generated": [10, 10, 7], "event": [1, 3, 2]})
    for part in bdt.PARTS:
        np.testing.assert_allclose(bdt.part_weights(frame, part)[:2], [2.0 * 10 / generated_in_part(10, part)] * 2, rtol=1e-15)
        assert bdt.part_weights(frame, part)[2] == pytest.approx(0.5 * 7 / generated_in_part(7, part), rel=1e-15)
    assert bdt.part_mask(frame, "evaluation").tolist() == [False, True, False]
    with pytest.raises(ValueError, match="unknown part"):
        bdt.part_mask(frame, "optimisation")
