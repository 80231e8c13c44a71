"""The Punzi-loss network (sensitivity/punzi_net.py): the loss against its formula, gradients,
seeded training on a small synthetic sample, save/load, feature files and selected histograms."""

from __future__ import annotations

import math

import numpy as np
import pytest

import torch  # a core dependency: imported, never skipped

import pandas as pd  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from selections.zprime_selection import CutTable, load_cut_table  # noqa: E402
from selections.zprime_variables import NETWORK_FEATURES  # noqa: E402
from sensitivity import punzi_net as pn  # noqa: E402
from sensitivity.features import load_features  # noqa: E402
from sensitivity.splits import generated_in_part, in_part  # noqa: E402

# --- the loss -------------------------------------------------------------------------------------

# Six events, two mass hypotheses. Events 0-2 are signal, 3-5 background (weights 8, 4, 14).
Y = [1.0, 0.5, 0.8, 0.25, 0.5, 0.5]
WEIGHTS = [0.0, 0.0, 0.0, 8.0, 4.0, 14.0]
SIGNAL_MASK = [[1, 1, 0, 0, 0, 0], [0, 0, 1, 0, 0, 0]]  # signal of mass m in the window of m
BACKGROUND_MASK = [[0, 0, 0, 1, 1, 0], [0, 0, 0, 0, 1, 1]]  # background in the window of m
N_GENERATED = [10.0, 4.0]
# eps0 = (1.0 + 0.5) / 10 = 0.15          B0 = 8 * 0.25 + 4 * 0.5 = 4   (sqrt 2)
# eps1 = 0.8 / 4 = 0.2                    B1 = 4 * 0.5 + 14 * 0.5 = 9   (sqrt 3)
# With a = b = 3, b^2 + 4 a sqrt(B) + 4 B = (2 sqrt(B) + 3)^2, so
# S_min = 9/8 + 81/13 + 3 sqrt(B) + 1.5 (2 sqrt(B) + 3) = 5.625 + 81/13 + 6 sqrt(B):
#   S0 = 17.625 + 81/13 = 23.855769230769..., sigma0 = S0 / 0.15 = 159.038461538...
#   S1 = 23.625 + 81/13 = 29.855769230769..., sigma1 = S1 / 0.2  = 149.278846153...
HAND_SIGMA = [159.03846153846155, 149.27884615384616]
HAND_LOSS = 154.15865384615384


def _tensors(dtype=torch.float64):
    return (
        torch.tensor(Y, dtype=dtype),
        torch.tensor(WEIGHTS, dtype=torch.float64),
        torch.tensor(SIGNAL_MASK, dtype=torch.bool),
        torch.tensor(BACKGROUND_MASK, dtype=torch.bool),
        torch.tensor(N_GENERATED, dtype=torch.float64),
    )


def test_punzi_loss_equals_hand_computed_numbers():
    eps, background, sigma = pn.punzi_terms(*_tensors(), a=3.0, b=3.0)
    assert eps.tolist() == pytest.approx([0.15, 0.2], rel=1e-14)
    assert background.tolist() == pytest.approx([4.0, 9.0], rel=1e-14)
    assert sigma.tolist() == pytest.approx(HAND_SIGMA, rel=1e-13)
    assert pn.punzi_loss(*_tensors(), a=3.0, b=3.0).item() == pytest.approx(HAND_LOSS, rel=1e-13)
    # the luminosity divides sigma_min
    assert pn.punzi_loss(*_tensors(), a=3.0, b=3.0, lumi=2.0).item() == pytest.approx(HAND_LOSS / 2, rel=1e-13)


def test_punzi_loss_default_constants_follow_the_formula():
    a, b = 3.0, 1.28155
    assert (pn.PUNZI_A, pn.PUNZI_B) == (a, b)

    def sigma_min(eps, background):
        s = (
            a * a / 8
            + 9 * b * b / 13
            + a * math.sqrt(background)
            + b / 2 * math.sqrt(b * b + 4 * a * math.sqrt(background) + 4 * background)
        )
        return s / eps

    expected = (sigma_min(0.15, 4.0) + sigma_min(0.2, 9.0)) / 2
    assert pn.punzi_loss(*_tensors()).item() == pytest.approx(expected, rel=1e-13)
    # float32 outputs are summed in the precision of the weights
    assert pn.punzi_loss(*_tensors(torch.float32)).item() == pytest.approx(expected, rel=1e-7)
    # no background in the window: S_min = a^2/8 + 9 b^2/13 + b^2/2 exactly
    y, w, sig, _, n = _tensors()
    none = torch.zeros_like(sig)
    assert pn.punzi_terms(y, w, sig, none, n)[2].tolist() == pytest.approx(
        [(a * a / 8 + 9 * b * b / 13 + b * b / 2) / e for e in (0.15, 0.2)], rel=1e-13
    )


def test_background_floor_counts_each_sample_as_at_least_that_many_mc_events():
    y, w, sig, bkg, n = _tensors()
    # background events 3, 4, 5 from three samples of one-event weights 8, 4, 14
    index = torch.tensor([0, 0, 0, 0, 1, 2])
    sample_weight = torch.tensor([8.0, 4.0, 14.0], dtype=torch.float64)
    plain = pn.punzi_terms(y, w, sig, bkg, n, sample_index=index, sample_weight=sample_weight, background_floor=0.0)[1]
    assert plain.tolist() == pytest.approx([4.0, 9.0], rel=1e-14)  # floor 0: the plain B
    # floor 0.3: sample counts (0.25, 0.5, 0) -> (0.3, 0.5, 0.3) and (0, 0.5, 0.5) -> (0.3, 0.5, 0.5)
    floored = pn.punzi_terms(y, w, sig, bkg, n, sample_index=index, sample_weight=sample_weight, background_floor=0.3)[1]
    assert floored.tolist() == pytest.approx([8 * 0.3 + 4 * 0.5 + 14 * 0.3, 8 * 0.3 + 4 * 0.5 + 14 * 0.5], rel=1e-14)
    # floor 1 (B_eff of the figures of merit): every sample below one event counts as one, and the
    # loss no longer rewards lowering their outputs
    y.requires_grad_(True)
    pn.punzi_loss(y, w, sig, bkg, n, sample_index=index, sample_weight=sample_weight, background_floor=1.0).backward()
    assert pn.punzi_terms(y, w, sig, bkg, n, sample_index=index, sample_weight=sample_weight, background_floor=1.0)[
        1
    ].tolist() == pytest.approx([26.0, 26.0])
    assert y.grad[3:].tolist() == [0.0, 0.0, 0.0]
    assert (y.grad[:3] < 0).all()


def test_punzi_loss_gradients_are_finite_and_nonzero():
    y, w, sig, bkg, n = _tensors()
    y.requires_grad_(True)
    pn.punzi_loss(y, w, sig, bkg, n).backward()
    grad = y.grad
    assert torch.isfinite(grad).all()
    assert (grad[:3] < 0).all(), "more signal output lowers the loss"
    assert (grad[3:] > 0).all(), "more background output raises it"
    # also where a window has no background (sqrt(B) at B = 0)
    y2 = torch.tensor(Y, dtype=torch.float64, requires_grad=True)
    pn.punzi_loss(y2, w, sig, torch.zeros_like(bkg), n).backward()
    assert torch.isfinite(y2.grad).all() and (y2.grad[:3] != 0).all()
    # through the network: every parameter gets a finite gradient, some non-zero
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        net = pn.build_network()
    out = net(torch.linspace(-1, 1, 6 * 15).reshape(6, 15)).squeeze(1)
    pn.punzi_loss(out, w, sig, bkg, n).backward()
    grads = [p.grad for p in net.parameters()]
    assert all(torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)


def test_network_layout_is_the_talks():
    net = pn.build_network()
    linear = [(name, m) for name, m in net.named_children() if isinstance(m, torch.nn.Linear)]
    assert [name for name, _ in linear] == list(pn.LAYER_NAMES)
    assert linear[0][0] == "input" and linear[0][1].out_features == 32
    assert [m.in_features for _, m in linear] == [15, 32, 64, 64, 32, 16, 8]  # the 14 features and the mass
    assert [m.out_features for _, m in linear] == [32, 64, 64, 32, 16, 8, 1]
    assert pn.INPUT_NAMES == (*NETWORK_FEATURES, pn.MASS_INPUT)
    out = net(torch.randn(5, 15))
    assert out.shape == (5, 1) and ((out > 0) & (out < 1)).all()


# --- training on a synthetic sample -------------------------------------------------------------


def _cut_table() -> CutTable:
    """The 1 and 2 GeV hypotheses of the committed table (windows 1 +- 0.98 and 4 +- 1.09 GeV^2)."""
    table = load_cut_table()
    return CutTable(tuple(h for h in table.hypotheses if h.mzp_gev in (1.0, 2.0)), table.window_n_sigma)


N_GEN = {1.0: 800, 2.0: 800}


def _synthetic(seed: int = 3, masses=(1.0, 2.0), n_signal: int = 600, n_background: int = 1500) -> pd.DataFrame:
    """Signal of each mass and background, separable on two features; the first feature of the signal moves with
    its mass (centred at 2 (m - 1.5)), so the best selection depends on the mass hypothesis."""
    rng = np.random.default_rng(seed)
    parts = []
    for mass, n in [(m, n_signal) for m in masses] + [(None, n_background)]:
        x = rng.normal(size=(n, len(NETWORK_FEATURES)))
        if mass is None:
            x[:, 0] *= 1.5
            x[:, 1] -= 0.3
        else:
            x[:, 0] = rng.normal(2.0 * (mass - 1.5), 0.3, n)
            x[:, 1] += 0.3
        frame = pd.DataFrame(x, columns=list(NETWORK_FEATURES))
        frame["recoil_mass2"] = rng.uniform(-1.0, 6.0, n) if mass is None else rng.normal(mass**2, 0.3, n)
        frame["weight"] = 0.5 if mass is None else 0.01
        frame["mzp_true_gev"] = np.nan if mass is None else mass
        frame["dataset"] = "bkg" if mass is None else f"signal_{mass:g}"
        frame["event"] = np.arange(1, n + 1)
        parts.append(frame)
    out = pd.concat(parts, ignore_index=True)
    out["dataset"] = out["dataset"].astype("category")
    return out


SMALL = pn.TrainingConfig(
    seed=5, threads=1, bce_epochs=30, bce_batch_size=256, punzi_epochs=20, punzi_batch_size=None, punzi_lr=1e-3, patience=0
)


@pytest.fixture(scope="module")
def trained():
    table, cuts = _synthetic(), _cut_table()
    n_gen = np.array([N_GEN[h.mzp_gev] for h in cuts.hypotheses], dtype=float)
    return table, cuts, n_gen, pn.train(table, cuts, n_gen, SMALL)


def test_training_reduces_the_loss_and_separates_at_every_mass(trained):
    table, cuts, n_gen, model = trained
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        untrained = pn.PunziNet(pn.build_network(), model.scaling, {}, SMALL)
    before = pn.full_batch_punzi_loss(untrained, table, cuts, n_gen)
    after = pn.full_batch_punzi_loss(model, table, cuts, n_gen)
    assert after < 0.75 * before
    assert model.history["punzi"][-1] < model.history["punzi"][0]
    assert model.history["bce"][-1] < model.history["bce"][0]
    y = model.outputs(table, cuts)
    signal, background = pn.window_masks(table, cuts)
    for i in range(len(cuts.hypotheses)):  # area under the ROC curve of the window signal against the window background
        assert (y[i][signal[i]][:, None] > y[i][background[i]][None, :]).mean() > 0.8
    assert set(model.thresholds) == {1000, 2000} and all(0 <= t < 1 for t in model.thresholds.values())
    assert model.history["best_epoch"] == [SMALL.punzi_epochs]  # no threshold split: every epoch, the last weights


def test_the_mass_input_selects_the_signal_of_a_mass_between_the_trained_ones():
    """Trained at 1 and 2 GeV only (signal's first feature near -1 and +1), at 1.5 GeV the network keeps the 1.5 GeV
    signal (first feature near 0) against the background far better than when told 1 or 2 GeV."""
    cuts = _cut_table()
    table = _synthetic(seed=11, n_signal=1500, n_background=4000)
    model = pn.train(table, cuts, np.array([2000.0, 2000.0]), pn.TrainingConfig(**{**SMALL.__dict__, "seed": 5}))
    between = _synthetic(seed=12, masses=(1.5,), n_signal=2000, n_background=4000)
    signal = between["mzp_true_gev"].notna().to_numpy()
    window = cuts.in_window(between["recoil_mass2"].to_numpy(), cuts.with_masses([1.5]).hypotheses[1])

    def auc(mzp_gev):
        y = model.predict(between, mzp_gev)
        return (y[signal & window][:, None] > y[~signal & window][None, :]).mean()

    at_mass = auc(1.5)  # measured 0.88
    assert at_mass > 0.75 and at_mass > auc(1.0) + 0.1 and at_mass > auc(2.0) + 0.1  # measured 0.61 and 0.64
    assert model.threshold(1.5) == pytest.approx(0.5 * (model.thresholds[1000] + model.thresholds[2000]))
    with pytest.raises(ValueError, match="outside the network's grid"):
        model.threshold(2.5)


def test_early_stopping_keeps_the_weights_of_the_best_epoch_on_the_threshold_split():
    cuts = _cut_table()
    train_table, threshold_table = _synthetic(seed=3), _synthetic(seed=4, n_signal=300, n_background=700)
    n_train, n_threshold = np.array([800.0, 800.0]), np.array([400.0, 400.0])
    config = pn.TrainingConfig(**{**SMALL.__dict__, "punzi_epochs": 150, "punzi_lr": 1e-2, "patience": 3})
    model = pn.train(train_table, cuts, n_train, config, threshold_split=(threshold_table, n_threshold))
    monitored = model.history["punzi_threshold"]
    best = int(np.argmin(monitored)) + 1
    assert model.history["best_epoch"] == [best]
    assert len(monitored) == len(model.history["punzi"]) < config.punzi_epochs  # it stopped
    assert len(monitored) - best == config.patience
    assert pn.full_batch_punzi_loss(model, threshold_table, cuts, n_threshold) == pytest.approx(min(monitored), rel=1e-6)
    # the thresholds were chosen on the threshold split
    expected = pn.choose_thresholds(model.outputs(threshold_table, cuts), threshold_table, cuts, n_threshold)
    assert model.thresholds == expected


def test_training_is_reproducible(trained):
    table, cuts, n_gen, model = trained
    again = pn.train(table, cuts, n_gen, SMALL)
    first, second = model.network.state_dict(), again.network.state_dict()
    assert all(torch.equal(first[k], second[k]) for k in first)
    assert again.thresholds == model.thresholds
    other = pn.train(table, cuts, n_gen, pn.TrainingConfig(**{**SMALL.__dict__, "seed": 6}))
    assert not all(torch.equal(first[k], other.network.state_dict()[k]) for k in first)


def test_save_load_round_trip(trained, tmp_path):
    table, _, _, model = trained
    path = model.save(tmp_path / "net" / "model.pt")
    loaded = pn.PunziNet.load(path)
    assert np.array_equal(loaded.predict(table, 1.7), model.predict(table, 1.7))
    assert loaded.thresholds == model.thresholds
    assert loaded.config == model.config
    assert loaded.scaling.names == pn.INPUT_NAMES
    assert np.array_equal(loaded.scaling.mean, model.scaling.mean) and np.array_equal(loaded.scaling.std, model.scaling.std)
    raw = torch.load(path, weights_only=True)
    assert raw["feature_names"] == list(pn.INPUT_NAMES) and raw["config"]["seed"] == SMALL.seed
    raw["format"] = "punzi_net/1"
    torch.save(raw, tmp_path / "old.pt")
    with pytest.raises(ValueError, match="not a saved mass-parametrised"):
        pn.PunziNet.load(tmp_path / "old.pt")


def test_yields_and_selected_histograms_of_the_network_and_the_cuts(trained):
    table, cuts, n_gen, model = trained
    y = model.outputs(table, cuts)
    passed = pn.network_passes(model, cuts, y)
    rows = pn.selection_yields(passed, table, cuts, n_gen)
    selected = pn.selected_histograms(passed, table, cuts)
    assert set(selected) == {"bkg", "signal_1", "signal_2"}
    signal_mask, background_mask = pn.window_masks(table, cuts)
    for i, (h, row) in enumerate(zip(cuts.hypotheses, rows)):
        np.testing.assert_array_equal(passed[i], y[i] > model.thresholds[h.mzp_mev])
        assert row["eps"] == pytest.approx(np.count_nonzero(passed[i] & signal_mask[i]) / n_gen[i])
        assert row["background"] == pytest.approx(0.5 * np.count_nonzero(passed[i] & background_mask[i]))
        assert row["punzi"] == pytest.approx(row["eps"] / (1.5 + math.sqrt(row["background"])))
        hist_bkg = selected["bkg"]["recoil_mass2_selected"][{"mzp_mev": hist_index(h.mzp_mev)}]
        bkg_rows = (table["dataset"] == "bkg").to_numpy() & passed[i]
        assert hist_bkg.sum(flow=True).value == pytest.approx(0.5 * np.count_nonzero(bkg_rows))
        assert hist_bkg.sum(flow=True).variance == pytest.approx(0.25 * np.count_nonzero(bkg_rows))
        assert selected["bkg"]["cutflow_mzp"][h.mzp_mev]["recoil_mass_window"] == np.count_nonzero(passed[i] & background_mask[i])
    # a selection against itself: ratio 1 with no spread; against a looser one, a finite error
    np.testing.assert_array_equal(pn.fom_ratio_error(passed, passed, table, cuts, n_gen), [0.0, 0.0])
    looser = y > 0.05
    errors = pn.fom_ratio_error(passed, looser, table, cuts, n_gen)
    assert np.all(np.isfinite(errors)) and np.all(errors > 0)


def hist_index(mzp_mev: int):
    import hist

    return hist.loc(mzp_mev)


def test_choose_thresholds_removes_background_below_the_signal():
    cuts = _cut_table()
    table = _synthetic()
    is_signal = table["mzp_true_gev"].notna().to_numpy()
    rng = np.random.default_rng(1)
    y = np.where(is_signal, rng.uniform(0.2, 1.0, len(table)), rng.uniform(0.0, 0.3, len(table)))
    n_gen = np.array([800.0, 800.0])
    thresholds = pn.choose_thresholds(np.stack([y, y]), table, cuts, n_gen)
    signal_mask, background_mask = pn.window_masks(table, cuts)
    for i, h in enumerate(cuts.hypotheses):
        t = thresholds[h.mzp_mev]
        assert not (y[background_mask[i]] > t).any(), "all background MC removed"
        assert np.count_nonzero(y[signal_mask[i]] > t) >= 0.85 * np.count_nonzero(y[signal_mask[i]] > 0.3)


# --- feature files and splits -------------------------------------------------------------------


def test_load_features_orders_chunks_and_parts_follow_the_generated_event_number(tmp_path):
    def chunk(dataset, stem, start, stop, weight, mass):
        n = stop - start
        columns = {name: np.full(n, 0.5) for name in NETWORK_FEATURES}
        columns["recoil_mass2"] = np.arange(start, stop, dtype=float)
        columns["weight"] = np.full(n, weight)
        columns["mzp_true_gev"] = np.full(n, mass)
        columns["event"] = np.arange(start, stop, dtype=np.int64) + 1
        table = pa.table({**columns, "dataset": pa.array([dataset] * n, type=pa.dictionary(pa.int32(), pa.string()))})
        (tmp_path / dataset).mkdir(exist_ok=True)
        pq.write_table(table, tmp_path / dataset / f"{stem}_{start}_{stop}.parquet")

    # entry 100000 comes after entry 20000 (numeric, not string, order)
    chunk("bkg", "bkg_0000", 100000, 100003, 3.0, np.nan)
    chunk("bkg", "bkg_0000", 20000, 20002, 3.0, np.nan)
    chunk("bkg", "bkg_0000", 0, 3, 3.0, np.nan)
    chunk("sig", "sig_0000", 0, 4, 1.0, 2.0)
    table = load_features(tmp_path, required=("event",))
    bkg = table[table["dataset"] == "bkg"]
    assert bkg["recoil_mass2"].tolist() == [0, 1, 2, 20000, 20001, 100000, 100001, 100002]
    assert bkg["event_index"].tolist() == list(range(8))
    meta = {"sig": {"channel": "signal", "mzp": 2.0, "n_generated": 10}, "bkg": {"channel": "kkmc_mumu", "n_generated": 100003}}
    parts = {p: pn.select_part(table, p, meta) for p in ("train", "threshold", "evaluation")}
    assert sum(len(t) for t in parts.values()) == len(table)
    # event numbers 1, 20002, 100003 ((event - 1) mod 3 = 0) are the train split of bkg
    assert parts["train"][parts["train"]["dataset"] == "bkg"]["recoil_mass2"].tolist() == [0, 20001, 100002]
    # weights: xsec L / generated events of the split = weight x n_generated / n_split, exactly
    assert np.allclose(parts["train"][parts["train"]["dataset"] == "bkg"]["weight"], 3.0 * 100003 / 33335, rtol=1e-15)
    assert np.allclose(parts["evaluation"][parts["evaluation"]["dataset"] == "sig"]["weight"], 10 / 3, rtol=1e-15)
    cuts = _cut_table()
    assert pn.generated_per_mass({**meta, "sig1": {"channel": "signal", "mzp": 1.0, "n_generated": 4}}, cuts, "train").tolist() == [2.0, 4.0]
    assert pn.part_metadata(meta, "evaluation")["bkg"]["n_generated"] == 33334
    with pytest.raises(ValueError, match="1000"):
        pn.generated_per_mass(meta, cuts)
    with pytest.raises(ValueError, match="no 'event' column"):
        pn.select_part(table.drop(columns="event"), "train", meta)
    with pytest.raises(ValueError, match="no feature files"):
        load_features(tmp_path / "nothing")
    # a left-over chunk of a run with another chunk size is refused, not counted twice
    chunk("bkg", "bkg_0000", 0, 20002, 3.0, np.nan)
    with pytest.raises(ValueError, match="overlap"):
        load_features(tmp_path)


def test_a_complement_slice_adds_no_one_event_floor_to_the_background():
    """B_eff counts each background sample as at least one MC event of its weight, but not a complement generator
    slice (fileset generator_slice_role), which the cut floors keep out of every window: one event of its large
    weight would otherwise sit in every window's B_eff and Punzi loss."""
    cuts = _cut_table()
    table = _synthetic()
    rest = table[table["dataset"] == "bkg"].iloc[:1].assign(dataset="bkg_rest", recoil_mass2=50.0, weight=1000.0)
    combined = pd.concat([table.astype({"dataset": str}), rest.astype({"dataset": str})], ignore_index=True)
    combined["dataset"] = combined["dataset"].astype("category")
    meta = {name: {"channel": "kkmc_mumu", "xsec_pb": 1.0, "n_generated": 10**6} for name in ("bkg", "bkg_rest")}
    meta |= {f"signal_{m:g}": {"channel": "signal", "mzp": m, "n_generated": 800, "xsec_pb": 1.0} for m in (1.0, 2.0)}
    nothing = np.zeros((2, len(combined)), dtype=bool)
    n_gen = np.array([800.0, 800.0])

    def effective(metadata):
        part = pn.select_part(combined, "all", metadata)
        return [r["background_effective"] for r in pn.selection_yields(nothing, part, cuts, n_gen)]

    assert effective(meta) == [1000.0 + 0.5, 1000.0 + 0.5]  # one event of each sample
    meta["bkg_rest"]["generator_slice_role"] = "complement"
    assert effective(meta) == [0.5, 0.5]
    part = pn.select_part(combined, "all", meta)
    assert part.loc[part["dataset"] == "bkg_rest", pn.MC_FLOOR].tolist() == [0.0]
    # the Punzi loss' B: the same floors
    data = pn._window_data(part, cuts, n_gen)
    names = pn._samples(part)[0]
    assert data.sample_floor.tolist() == [0.0 if n == "bkg_rest" else 1.0 for n in names]


def test_a_part_is_read_file_by_file_keeping_only_window_events(tmp_path):
    """load_part reads only the rows of a (thinned) part inside some window, chunk file by chunk file, with the part's
    exact weights: what train_punzi_net.py --thin K fits on, without the whole table in memory."""
    cuts = _cut_table()  # windows 1 +- 0.98 and 4 +- 1.09 GeV^2
    rng = np.random.default_rng(4)

    def chunk(dataset, start, stop, weight, mass):
        n = stop - start
        columns = {name: rng.normal(size=n) for name in NETWORK_FEATURES}
        columns |= {"recoil_mass2": rng.uniform(-2.0, 12.0, n), "weight": np.full(n, weight), "mzp_true_gev": np.full(n, mass),
                    "event": np.arange(start, stop, dtype=np.int64) + 1}  # fmt: skip
        table = pa.table({**columns, "dataset": pa.array([dataset] * n, type=pa.dictionary(pa.int32(), pa.string()))})
        (tmp_path / dataset).mkdir(exist_ok=True)
        pq.write_table(table, tmp_path / dataset / f"{dataset}_0000_{start}_{stop}.parquet")
        return pd.DataFrame(columns).assign(dataset=dataset)

    whole = pd.concat([chunk("bkg", 0, 5000, 2.0, np.nan), chunk("bkg", 5000, 9001, 2.0, np.nan), chunk("sig", 0, 3000, 0.25, 1.0)])
    meta = {"bkg": {"channel": "kkmc_mumu", "xsec_pb": 2.0 * 9001 / 626e3, "n_generated": 9001},
            "sig": {"channel": "signal", "mzp": 1.0, "xsec_pb": 0.25 * 3000 / 626e3, "n_generated": 3000}}  # fmt: skip
    for part in ("train/4", "evaluation"):
        got = pn.load_part(tmp_path, part, cuts, meta, 626.0)
        expected = whole[in_part(whole["event"].to_numpy(), part) & cuts.in_any_window(whole["recoil_mass2"].to_numpy())]
        assert sorted(zip(got["dataset"].astype(str), got["event"])) == sorted(zip(expected["dataset"], expected["event"]))
        assert 0 < len(got) < len(whole) / (5 if part == "train/4" else 2)
        bkg = got["dataset"] == "bkg"
        assert np.allclose(got.loc[bkg, "weight"], 2.0 * 9001 / generated_in_part(9001, part), rtol=1e-14)
        assert got["dataset"].dtype == "category"
    # a thinned part estimates the same window yield as the whole sample, within statistics
    window = cuts.in_any_window(whole["recoil_mass2"].to_numpy()) & whole["mzp_true_gev"].isna().to_numpy()
    thin = pn.load_part(tmp_path, "fit/3", cuts, meta, 626.0)
    estimate = thin.loc[thin["dataset"] == "bkg", "weight"].sum()
    assert abs(estimate - 2.0 * window.sum()) < 4 * np.sqrt((thin["dataset"] == "bkg").sum()) * thin["weight"].max()
    # columns and datasets can be read in part; a column the files lack is named
    only = load_features(tmp_path, columns=("recoil_mass2",), datasets=("sig",))
    assert set(only.columns) == {"recoil_mass2", "dataset", "event_index"} and len(only) == 3000
    with pytest.raises(ValueError, match=r"lack the columns \['nonsense'\]"):
        load_features(tmp_path, columns=("nonsense",))


def test_every_punzi_batch_holds_all_signal_rows_and_the_background_is_split_once():
    """eps is exact in every mini-batch (all signal rows), only B is sampled: each background row is in one batch."""
    table, cuts = _synthetic(seed=22), _cut_table()
    data = pn._window_data(table, cuts, np.array([800.0, 800.0]))
    signal_rows = set(torch.nonzero(data.is_signal).squeeze(1).tolist())
    batches = list(pn._punzi_batches(data, 400, torch.Generator().manual_seed(0)))
    n_background = len(data.is_signal) - len(signal_rows)
    assert len(batches) == math.ceil(n_background / 400) > 1
    seen = []
    for idx in batches:
        rows = idx.tolist()
        assert signal_rows <= set(rows)
        seen += [r for r in rows if r not in signal_rows]
    assert sorted(seen) == sorted(set(range(len(data.is_signal))) - signal_rows)
    config = pn.TrainingConfig(**{**SMALL.__dict__, "punzi_batch_size": 400})
    model = pn.train(table, cuts, np.array([800.0, 800.0]), config)
    assert np.isfinite(model.history["punzi"]).all() and model.history["punzi"][-1] < model.history["punzi"][0]


def test_a_threshold_chosen_below_saturated_outputs_keeps_them(trained):
    """Outputs saturated at float32 1.0 get the candidate 1 - 1e-12 from choose_thresholds; network_passes must keep them."""
    table, cuts, n_gen, model = trained
    outputs = np.ones((len(cuts.hypotheses), len(table)), dtype=np.float32)
    saturated = pn.PunziNet(model.network, model.scaling, {h.mzp_mev: 1.0 - 1e-12 for h in cuts.hypotheses}, model.config)
    assert pn.network_passes(saturated, cuts, outputs).all()
