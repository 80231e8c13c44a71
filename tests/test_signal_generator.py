"""The invisible Z' signal: cross sections, kinematics and the recoil-mass peak."""

import awkward as ak
import numpy as np
import pytest
import uproot

from belle_mc.channels import CHANNELS
from belle_mc.montecarlo import integrate, sample_unweighted
from belle_mc.processes import VectorEmission
from belle_mc.production import to_lab
from core import constants as c
from core.beams import boost, cms_boost_vector

# docs/physics.md §3: sigma(e+e- -> mu mu Z') for g' = 1, pb (massless-muon Dalitz region)
PHYSICS_MD_XSEC_PB = {0.5: 205.0, 2.0: 34.8, 5.0: 2.04, 8.0: 0.0316}
# docs/physics.md §1: Belle II recoil M^2 resolution, GeV^2
RESOLUTION_TABLE_GEV2 = {1.0: 0.287, 4.0: 0.262, 8.0: 0.096}


@pytest.mark.parametrize("mass", sorted(PHYSICS_MD_XSEC_PB))
def test_signal_cross_section_agrees_with_physics_md(mass):
    xs = integrate(VectorEmission(mass, energy_spread=0.0), n_points=1_000_000)
    assert xs.error_pb / xs.xsec_pb < 0.01
    assert xs.xsec_pb == pytest.approx(PHYSICS_MD_XSEC_PB[mass], rel=0.05)


def test_cross_section_scales_with_coupling_squared():
    a = integrate(VectorEmission(2.0, coupling_alpha=1e-4 / (4 * np.pi)), n_points=200_000)
    b = integrate(VectorEmission(2.0), n_points=200_000)
    assert a.xsec_pb / b.xsec_pb == pytest.approx(1e-4, rel=1e-9)


@pytest.mark.parametrize("mass", [0.25, 3.0, 9.0])
def test_truth_recoil_mass_is_the_zprime_mass_in_the_lab(mass):
    proc = VectorEmission(mass)
    rng = np.random.default_rng(11)
    xs = integrate(proc, n_points=200_000)
    ev = sample_unweighted(proc, rng, 20_000, xs.max_weight)
    parts = CHANNELS["signal"].build_particles(rng, ev)
    lab = to_lab(rng, parts, 20_000)
    muons = np.abs(lab.pdg) == c.PDG_MUON
    dimuon = np.zeros((20_000, 4))
    np.add.at(dimuon, lab.event[muons], lab.p4[muons])
    # the event's own initial state: sqrt(s) of this event at rest in the CM, boosted to the lab
    initial = boost(np.column_stack([ev["sqrt_s"], np.zeros((20_000, 3))]), cms_boost_vector())
    recoil = initial - dimuon
    m2 = recoil[:, 0] ** 2 - (recoil[:, 1:] ** 2).sum(1)
    np.testing.assert_allclose(m2, mass**2, atol=1e-9 * 112)


def test_dalitz_variables_stay_inside_phase_space():
    proc = VectorEmission(1.0)
    rng = np.random.default_rng(5)
    ev = sample_unweighted(proc, rng, 10_000, integrate(proc, 200_000).max_weight)
    m = c.MUON_MASS_GEV
    for key in ("lepton_minus", "lepton_plus"):
        np.testing.assert_allclose(ev[key][:, 0] ** 2 - (ev[key][:, 1:] ** 2).sum(1), m**2, atol=1e-9)
    total = ev["lepton_minus"] + ev["lepton_plus"] + ev["vector"]
    np.testing.assert_allclose(total[:, 0], ev["sqrt_s"], rtol=1e-12)
    np.testing.assert_allclose(total[:, 1:], 0.0, atol=1e-10)


def _recoil_mass2(path):
    from core.beams import beam_four_momenta_lab

    arr = uproot.open(path)["events"].arrays(["Track_px", "Track_py", "Track_pz", "Track_charge"])
    arr = arr[(ak.num(arr.Track_px) == 2) & (ak.sum(arr.Track_charge, axis=1) == 0)]
    p = np.stack([ak.to_numpy(arr[f"Track_p{k}"]) for k in "xyz"], axis=-1).astype(np.float64)
    e = np.sqrt((p**2).sum(-1) + c.MUON_MASS_GEV**2)
    total = np.add(*beam_four_momenta_lab())
    rec_e = total[0] - e.sum(1)
    rec_p = total[1:] - p.sum(1)
    return rec_e**2 - (rec_p**2).sum(-1)


@pytest.mark.parametrize("mass", sorted(RESOLUTION_TABLE_GEV2))
def test_reconstructed_recoil_mass_peaks_at_zprime_mass(tmp_path, mass):
    from belle_mc.production import produce

    produce("signal", 20_000, tmp_path, mass=mass, seed=3, progress=False)
    m2 = np.concatenate([_recoil_mass2(f) for f in tmp_path.glob("*.root")])
    core = m2[np.abs(m2 - mass**2) < 2.0]
    # robust width: half the 16-84% interval of the core
    q16, q50, q84 = np.percentile(core, [16, 50, 84])
    width = (q84 - q16) / 2
    assert q50 == pytest.approx(mass**2, abs=0.05 * max(1.0, width * 4))
    assert abs(q50 - mass**2) < 0.3 * width
    table = RESOLUTION_TABLE_GEV2[mass]
    assert table / 3 < width < table * 3, f"width {width:.3f} GeV^2 not of the order of {table}"
