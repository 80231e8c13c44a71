"""The fused per-event kernel of :mod:`selections.zprime_variables` on hand-built flat buffers.

Buffers have the ntuple types of :mod:`core.ntuple_schema` (float32
momenta, int32 charges and counters). Checked: the preselection stages, the
shape and column order of the variable table, hand-computed values of an
exclusive mu+ mu- event and of a mu+ mu- gamma X event, and - on a random
sample - the rotation-invariant variables against the ``vector`` library.
"""

import math

import numpy as np
import pytest
import vector

from core import constants as c
from core.beams import beam_four_momenta_lab, cms_frame
from core.ntuple_schema import COLLECTIONS
from selections import zprime_variables as zv

M_MU = c.MUON_MASS_GEV
TRACK_TYPES = COLLECTIONS["Track"]
CLUSTER_TYPES = COLLECTIONS["Cluster"]


def _buffers(events):
    """Flat buffers of events, each a pair (tracks, clusters).

    A track is (px, py, pz, charge, muonID, dr, dz), a cluster (E, theta, phi); the types are the ntuple's.
    """
    n_track = np.array([len(t) for t, _ in events], dtype=np.int32)
    n_cluster = np.array([len(k) for _, k in events], dtype=np.int32)
    all_tracks = [trk for t, _ in events for trk in t]
    all_clusters = [cl for _, k in events for cl in k]
    tracks = {
        name: np.array([trk[i] for trk in all_tracks], dtype=TRACK_TYPES[name])
        for i, name in enumerate(("px", "py", "pz", "charge", "muonID", "dr", "dz"))
    }
    clusters = {
        name: np.array([cl[i] for cl in all_clusters], dtype=CLUSTER_TYPES[name])
        for i, name in enumerate(("E", "theta", "phi"))
    }
    return n_track, tracks, n_cluster, clusters


def _muon(p3, charge, muon_id=0.99):
    return (*p3, charge, muon_id, 0.0, 0.0)


def _to_lab(p4_cms):
    return cms_frame()[2] @ np.asarray(p4_cms, dtype=float)


def _mu_cms(p3):
    p3 = np.asarray(p3, dtype=float)
    return np.array([math.sqrt(p3 @ p3 + M_MU**2), *p3])


# --- bookkeeping ------------------------------------------------------------------


def test_column_constants_match_the_variable_table():
    assert zv._NVAR == len(zv.VARIABLES) == len(zv.COLUMN)
    for name in zv.VARIABLES:
        assert getattr(zv, "_" + name.upper()) == zv.COLUMN[name], name
    assert set(zv.NETWORK_FEATURES) <= set(zv.VARIABLES)
    assert len(zv.NETWORK_FEATURES) == 14


def test_preselection_stages():
    mu_p, mu_m = (1.0, 0.5, 2.0), (-1.0, -0.4, 1.0)
    events = [
        ([], [(1.1, 1.0, 0.5)]),  # no track, but a cluster
        ([_muon(mu_p, +1)], []),  # one track
        ([_muon(mu_p, +1), _muon(mu_m, -1)], [(0.3, 1.0, 0.5)]),  # good dimuon
        ([_muon(mu_p, +1), _muon(mu_m, +1)], []),  # same charge
        ([_muon(mu_p, -1), _muon(mu_m, -1)], []),  # same charge, negative
        ([_muon(mu_p, +1), _muon(mu_m, -1, muon_id=0.5)], []),  # one track fails muonID
        ([_muon(mu_p, +1, muon_id=0.1), _muon(mu_m, -1, muon_id=0.2)], []),  # both fail muonID
        ([_muon(mu_p, +1), _muon(mu_m, -1), _muon((0.2, 0.3, 0.1), +1)], []),  # three tracks
        ([_muon(mu_m, -1), _muon(mu_p, +1)], [(0.7, 2.0, 1.0), (0.2, 1.5, -1.0)]),  # good dimuon, mu- first
    ]
    stage, table = zv.dimuon_event_variables(*_buffers(events))
    none, opposite, muid = zv.STAGE_NONE, zv.STAGE_TWO_OPPOSITE_CHARGE_TRACKS, zv.STAGE_TWO_MUON_ID
    assert stage.tolist() == [none, none, muid, none, none, opposite, opposite, none, muid]
    assert table.shape == (len(zv.VARIABLES), 2)
    assert table.dtype == np.float64
    # columns follow event order, each with the clusters of its own event
    assert table[zv.COLUMN["e_neutral_lab"]].tolist() == pytest.approx([0.3, 0.9])
    # the last event is the same dimuon with the tracks swapped: the charge, not the track order, decides
    for name in ("m_mumu", "recoil_mass2", "pl_max_mu", "angle_pt_mu_minus_thrust", "angle_pt_mu_plus_thrust"):
        assert table[zv.COLUMN[name], 1] == pytest.approx(table[zv.COLUMN[name], 0], rel=1e-12), name
    angle_minus, angle_plus = table[zv.COLUMN["angle_pt_mu_minus_thrust"]], table[zv.COLUMN["angle_pt_mu_plus_thrust"]]
    assert angle_minus[0] != pytest.approx(angle_plus[0])


def test_pid_cut_is_a_strict_threshold_on_both_tracks():
    events = [([_muon((1.0, 0.0, 1.0), +1, 0.95), _muon((-1.0, 0.0, 1.0), -1, 0.95)], [])]
    assert zv.dimuon_event_variables(*_buffers(events), pid_cut=0.9)[0].tolist() == [zv.STAGE_TWO_MUON_ID]
    stage, table = zv.dimuon_event_variables(*_buffers(events), pid_cut=0.96)
    assert stage.tolist() == [zv.STAGE_TWO_OPPOSITE_CHARGE_TRACKS]
    assert table.shape == (len(zv.VARIABLES), 0)


def test_empty_input():
    stage, table = zv.dimuon_event_variables(*_buffers([]))
    assert stage.shape == (0,)
    assert table.shape == (len(zv.VARIABLES), 0)


def test_counter_and_buffer_length_must_agree():
    n_track, tracks, n_cluster, clusters = _buffers([([_muon((1, 0, 1), 1), _muon((-1, 0, 1), -1)], [(0.5, 1.0, 0.0)])])
    with pytest.raises(ValueError, match="nTrack"):
        zv.dimuon_event_variables(np.array([3], dtype=np.int32), tracks, n_cluster, clusters)
    with pytest.raises(ValueError, match="nCluster"):
        zv.dimuon_event_variables(n_track, tracks, np.array([0], dtype=np.int32), clusters)
    short = dict(tracks, dz=tracks["dz"][:1])
    with pytest.raises(ValueError, match="dz"):
        zv.dimuon_event_variables(n_track, short, n_cluster, clusters)


# --- hand-computed events ---------------------------------------------------------


def test_exclusive_back_to_back_dimuon_has_no_recoil():
    sqrt_s = cms_frame()[0]
    p = math.sqrt((sqrt_s / 2) ** 2 - M_MU**2)
    cos_t, phi = 0.6, 0.7
    n = np.array([0.8 * math.cos(phi), 0.8 * math.sin(phi), cos_t])
    mu_minus, mu_plus = _to_lab(_mu_cms(p * n)), _to_lab(_mu_cms(-p * n))
    events = [([_muon(mu_minus[1:], -1), _muon(mu_plus[1:], +1)], [])]
    stage, table = zv.dimuon_event_variables(*_buffers(events))
    v = {name: table[i, 0] for i, name in enumerate(zv.VARIABLES)}
    # float32 momenta: ~1e-7 relative precision
    assert v["recoil_mass2"] == pytest.approx(0.0, abs=1e-3)
    assert v["recoil_mass2_visible"] == v["recoil_mass2"]  # no clusters
    assert v["e_mumu_cms"] == pytest.approx(sqrt_s, rel=1e-6)
    assert v["m_mumu"] == pytest.approx(sqrt_s, rel=1e-6)
    assert v["p_mumu_cms"] == pytest.approx(0.0, abs=1e-5)
    assert v["pt_mumu_cms"] == pytest.approx(0.0, abs=1e-5)
    assert v["opening_angle_cms"] == pytest.approx(math.pi, abs=1e-5)
    assert v["pt_proj_max"] == pytest.approx(0.0, abs=1e-5)
    assert v["pt_proj_min"] == pytest.approx(0.0, abs=1e-5)
    assert v["p_thrust"] == pytest.approx(2 * p, rel=1e-6)  # |p1 - p2|
    # pl of the two muons: +-p cos(theta*) about the e- beam axis
    assert sorted([v["pl_min_mu"], v["pl_max_mu"]]) == pytest.approx([-p * cos_t, p * cos_t], abs=1e-5)
    # thrust axis along the muons, so each muon's pt lies along its transverse projection
    assert v["angle_pt_mu_minus_thrust"] == pytest.approx(0.0, abs=1e-4)
    assert v["angle_pt_mu_plus_thrust"] == pytest.approx(0.0, abs=1e-4)
    assert v["vertex_pvalue"] == 1.0  # dr = dz = 0: perfect vertex at the IP
    assert v["e_neutral_lab"] == 0.0
    assert v["e_visible_cms"] == pytest.approx(sqrt_s, rel=1e-6)
    assert v["dphi_recoil_photon"] == math.pi  # no photon candidate
    assert v["delta_m_gamma"] == 0.0


def test_dimuon_photon_and_invisible_x():
    """mu+ mu- gamma X in the CM with m_X = 3 GeV: the recoil against mu mu gamma is m_X^2."""
    sqrt_s = cms_frame()[0]
    mu_plus, mu_minus = _mu_cms([1.2, 0.5, 2.0]), _mu_cms([-0.8, 1.1, -1.5])
    e_gamma = 1.5
    gamma_dir = np.array([0.0, -0.6, 0.8])
    gamma = np.array([e_gamma, *(e_gamma * gamma_dir)])
    p_x = -(mu_plus[1:] + mu_minus[1:] + gamma[1:])
    # choose m_X from energy conservation, then check the kernel finds it
    e_x = sqrt_s - mu_plus[0] - mu_minus[0] - gamma[0]
    m_x2 = e_x**2 - p_x @ p_x
    assert m_x2 > 0
    # a soft (beam-background like) cluster of 40 MeV exactly along the transverse recoil direction
    dimuon = mu_plus + mu_minus
    soft_dir = np.array([-dimuon[1], -dimuon[2], 0.0]) / math.hypot(dimuon[1], dimuon[2])
    soft = np.array([0.04, *(0.04 * soft_dir)])
    lab = [_to_lab(v) for v in (mu_plus, mu_minus, gamma, soft)]
    clusters = [(g[0], math.acos(g[3] / g[0]), math.atan2(g[2], g[1])) for g in lab[2:]]
    assert clusters[1][0] < zv.PHOTON_ENERGY_MIN_GEV < clusters[0][0]
    events = [([_muon(lab[0][1:], +1), _muon(lab[1][1:], -1)], clusters)]
    _, table = zv.dimuon_event_variables(*_buffers(events))
    v = {name: table[i, 0] for i, name in enumerate(zv.VARIABLES)}
    recoil2 = (sqrt_s - dimuon[0]) ** 2 - dimuon[1:] @ dimuon[1:]
    assert v["recoil_mass2"] == pytest.approx(recoil2, abs=1e-4)
    # the soft cluster also enters the visible system: check with it removed by hand
    _, no_soft = zv.dimuon_event_variables(*_buffers([(events[0][0], events[0][1][:1])]))
    assert no_soft[zv.COLUMN["recoil_mass2_visible"], 0] == pytest.approx(m_x2, abs=1e-4)
    assert v["e_neutral_lab"] == pytest.approx(clusters[0][0] + clusters[1][0], rel=1e-6)
    # the soft cluster (dphi = 0) is below the photon threshold: dphi is between the recoil and the hard photon
    recoil = -dimuon[1:]
    dphi = abs(math.remainder(math.atan2(recoil[1], recoil[0]) - math.atan2(gamma[2], gamma[1]), 2 * math.pi))
    assert v["dphi_recoil_photon"] == pytest.approx(dphi, abs=1e-5)
    m_mumu = math.sqrt(dimuon[0] ** 2 - dimuon[1:] @ dimuon[1:])
    assert v["m_mumu"] == pytest.approx(m_mumu, rel=1e-5)
    assert v["delta_m"] == pytest.approx(sqrt_s - m_mumu - math.sqrt(recoil2), abs=1e-5)
    assert no_soft[zv.COLUMN["e_visible_cms"], 0] == pytest.approx(sqrt_s - e_x, rel=1e-6)
    thrust = max(np.linalg.norm(mu_plus[1:] + mu_minus[1:]), np.linalg.norm(mu_plus[1:] - mu_minus[1:]))
    assert v["p_thrust"] == pytest.approx(thrust, rel=1e-6)
    # thrust axis along the difference here (|p1 - p2| > |p1 + p2|); muon pt vs its transverse projection
    axis = mu_plus[1:3] - mu_minus[1:3]
    for key, mu in (("angle_pt_mu_minus_thrust", mu_minus), ("angle_pt_mu_plus_thrust", mu_plus)):
        alpha = math.acos(mu[1:3] @ axis / np.linalg.norm(mu[1:3]) / np.linalg.norm(axis))
        assert v[key] == pytest.approx(min(alpha, math.pi - alpha), abs=1e-5), key
    assert v["delta_m_gamma"] == pytest.approx(
        math.sqrt(v["recoil_mass2"]) - math.sqrt(v["recoil_mass2_visible"]), rel=1e-12
    )
    pt = math.hypot(*dimuon[1:3])
    assert v["pt_mumu_cms"] == pytest.approx(pt, rel=1e-5)
    assert v["cos_theta_recoil_cms"] == pytest.approx(-dimuon[3] / np.linalg.norm(dimuon[1:]), rel=1e-5)
    # the higher-momentum muon is mu+ (|p| = 2.39 vs 2.03 GeV)
    assert v["pl_max_mu"] == pytest.approx(mu_plus[3], abs=1e-5)
    assert v["pl_min_mu"] == pytest.approx(mu_minus[3], abs=1e-5)
    # projection of -pt_mumu perpendicular to each muon's transverse momentum
    for key, mu in (("pt_proj_max", mu_plus), ("pt_proj_min", mu_minus)):
        expected = abs(-dimuon[1] * mu[2] + dimuon[2] * mu[1]) / math.hypot(mu[1], mu[2])
        assert v[key] == pytest.approx(expected, rel=1e-5)
    # recoil direction in the lab: the beams minus the dimuon
    electron, positron = beam_four_momenta_lab()
    r = electron + positron - lab[0] - lab[1]
    assert v["theta_recoil_lab"] == pytest.approx(math.atan2(math.hypot(r[1], r[2]), r[3]), abs=1e-6)


# --- comparison with the vector library -------------------------------------------

# float32 buffers (as in the ntuple) must give the float64 answer: the kernel converts before any
# arithmetic (m_mumu of near-collinear pairs lost ~1e-5 relative when squares were summed in float32)
_NTUPLE_TYPES = pytest.param(np.float32, id="float32")
_DOUBLE = pytest.param(np.float64, id="float64")


def _random_dimuons(dtype, n=500, seed=99):
    """Kernel table and vector-library CM four-vectors of ``n`` random opposite-charge muon pairs."""
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.5, 5.0, size=(2, n))
    cos_t = rng.uniform(-0.85, 0.95, size=(2, n))
    phi = rng.uniform(-np.pi, np.pi, size=(2, n))
    sin_t = np.sqrt(1 - cos_t**2)
    px, py, pz = (a.astype(dtype) for a in (p * sin_t * np.cos(phi), p * sin_t * np.sin(phi), p * cos_t))
    tracks = {
        "px": px.T.ravel(),
        "py": py.T.ravel(),
        "pz": pz.T.ravel(),
        "charge": np.tile(np.array([1, -1], dtype=np.int32), n),
        "muonID": np.full(2 * n, 0.99, dtype=np.float32),
        "dr": np.zeros(2 * n, dtype=np.float32),
        "dz": np.zeros(2 * n, dtype=np.float32),
    }
    clusters = {k: np.zeros(0, dtype=t) for k, t in CLUSTER_TYPES.items()}
    n_track, n_cluster = np.full(n, 2, dtype=np.int32), np.zeros(n, dtype=np.int32)
    stage, table = zv.dimuon_event_variables(n_track, tracks, n_cluster, clusters)
    assert (stage == zv.STAGE_TWO_MUON_ID).all()
    # the same (rounded) momenta in double precision for the independent computation
    px, py, pz = (a.astype(float) for a in (px, py, pz))
    mu = [vector.array({"px": px[i], "py": py[i], "pz": pz[i], "mass": np.full(n, M_MU)}) for i in range(2)]
    return table, mu


def _beams():
    electron, positron = beam_four_momenta_lab()
    total = electron + positron
    beams = vector.obj(E=total[0], px=total[1], py=total[2], pz=total[3])
    e_beam = vector.obj(E=electron[0], px=electron[1], py=electron[2], pz=electron[3])
    return beams, e_beam


@pytest.mark.parametrize("dtype", [_NTUPLE_TYPES, _DOUBLE])
def test_cms_invariants_agree_with_vector_library(dtype):
    table, mu = _random_dimuons(dtype)
    beams, e_beam = _beams()
    assert float(np.sqrt(beams.mass2)) == pytest.approx(cms_frame()[0], rel=1e-12)
    cms = [m.boostCM_of(beams) for m in mu]
    dimuon_cms = cms[0] + cms[1]
    # the kernel's CM z axis is the e- beam: pt about the boosted e- beam direction is rotation invariant
    e_cms = e_beam.boostCM_of(beams)
    axis = np.array([e_cms.px, e_cms.py, e_cms.pz]) / e_cms.mag
    p_mumu = np.column_stack([dimuon_cms.px, dimuon_cms.py, dimuon_cms.pz])
    pt_about_beam = np.linalg.norm(np.cross(p_mumu, axis), axis=1)

    col = zv.COLUMN
    np.testing.assert_allclose(table[col["e_mumu_cms"]], dimuon_cms.E, rtol=1e-6)
    np.testing.assert_allclose(table[col["p_mumu_cms"]], dimuon_cms.mag, rtol=1e-6)
    np.testing.assert_allclose(table[col["pt_mumu_cms"]], pt_about_beam, rtol=1e-6)
    np.testing.assert_allclose(table[col["opening_angle_cms"]], cms[0].deltaangle(cms[1]), rtol=1e-6)
    # recoil mass squared = (P_beams - p_mumu)^2, Lorentz invariant, computed in the lab; it is a
    # cancellation of terms ~ s, hence also an absolute tolerance of 1e-6 s
    s = beams.mass2
    np.testing.assert_allclose(table[col["recoil_mass2"]], (beams - (mu[0] + mu[1])).mass2, rtol=1e-6, atol=1e-6 * s)


@pytest.mark.parametrize("dtype", [_NTUPLE_TYPES, _DOUBLE])
def test_dimuon_mass_agrees_with_vector_library(dtype):
    table, mu = _random_dimuons(dtype)
    np.testing.assert_allclose(table[zv.COLUMN["m_mumu"]], (mu[0] + mu[1]).mass, rtol=1e-6)


@pytest.mark.parametrize("dtype", [_NTUPLE_TYPES, _DOUBLE])
def test_mass_of_a_near_collinear_dimuon(dtype):
    p1, p2 = np.array([0.3, 0.7, 4.1], dtype=dtype), np.array([0.2, 0.5, 2.9], dtype=dtype)
    n_track, tracks, n_cluster, clusters = _buffers([([_muon(p1, +1), _muon(p2, -1)], [])])
    for i, name in enumerate(("px", "py", "pz")):
        tracks[name] = np.array([p1[i], p2[i]], dtype=dtype)
    _, table = zv.dimuon_event_variables(n_track, tracks, n_cluster, clusters)
    a, b = p1.astype(float), p2.astype(float)
    e_a, e_b = math.sqrt(a @ a + M_MU**2), math.sqrt(b @ b + M_MU**2)
    m_mumu = math.sqrt(2 * M_MU**2 + 2 * (e_a * e_b - a @ b))  # no cancellation of large terms: 0.21506 GeV
    assert table[zv.COLUMN["m_mumu"], 0] == pytest.approx(m_mumu, rel=1e-9)
