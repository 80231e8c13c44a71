"""The fused kernel of :mod:`selections.scalar_variables` on hand-built four-track events.

Buffers have the ntuple types (float32 momenta, int32 charges and counters). Tracks
are built in the CM frame and taken to the lab with the analysis' own frame matrix, so
the expected pair mass, missing mass and missing polar angle are hand-computed CM
quantities. Checked: every preselection stage, the pair choice (flavour, vertex), the
values, and a counter mismatch.
"""

import math

import numpy as np
import pytest

from core import constants as c
from core.beams import cms_frame
from core.ntuple_schema import COLLECTIONS
from selections import scalar_selection as sel
from selections import scalar_variables as sv

TRACK_FIELDS = ("px", "py", "pz", "charge", "electronID", "muonID", "dr", "dz")
MASS = {"e": c.ELECTRON_MASS_GEV, "mu": c.MUON_MASS_GEV, "pi": c.CHARGED_PION_MASS_GEV}
PID = {"e": (0.99, 0.01), "mu": (0.01, 0.99), "pi": (0.01, 0.01)}  # (electronID, muonID)


def track(p3_cms, charge, kind, dr=0.0, dz=0.0):
    """A track (lab buffers' fields) of CM momentum ``p3_cms`` (GeV), identified as ``kind``."""
    p3 = np.asarray(p3_cms, dtype=float)
    p4_lab = cms_frame()[2] @ np.array([math.sqrt(p3 @ p3 + MASS[kind] ** 2), *p3])
    return (*p4_lab[1:], charge, *PID[kind], dr, dz)


def buffers(events, clusters=None):
    """Flat buffers of ``events`` (lists of tracks); ``clusters``: per event a list of (E, theta, phi) or None."""
    clusters = clusters or [[] for _ in events]
    n_track = np.array([len(e) for e in events], dtype=np.int32)
    flat = [t for e in events for t in e]
    tracks = {f: np.array([t[i] for t in flat], dtype=COLLECTIONS["Track"][f]) for i, f in enumerate(TRACK_FIELDS)}
    n_cluster = np.array([len(k) for k in clusters], dtype=np.int32)
    flat_c = [k for e in clusters for k in e]
    cl = {f: np.array([k[i] for k in flat_c], dtype=COLLECTIONS["Cluster"][f]) for i, f in enumerate(("E", "theta", "phi"))}
    return n_track, tracks, n_cluster, cl


def four_momentum(p3, kind):
    p3 = np.asarray(p3, dtype=float)
    return np.array([math.sqrt(p3 @ p3 + MASS[kind] ** 2), *p3])


def mass(p4):
    return math.sqrt(max(p4[0] ** 2 - p4[1:] @ p4[1:], 0.0))


# a tau tau phi_L(-> mu mu)-like event in the CM frame (GeV)
MU_MINUS, MU_PLUS = (0.9, 0.3, 0.5), (0.4, -0.6, 0.8)
PI_MINUS, PI_PLUS = (-1.2, 0.5, -0.9), (-0.7, -0.4, 0.3)


def signal_like_event(pair_kind="mu"):
    return [
        track(MU_MINUS, -1, pair_kind),
        track(PI_MINUS, -1, "pi"),
        track(MU_PLUS, +1, pair_kind),
        track(PI_PLUS, +1, "pi"),
    ]


def test_pair_mass_missing_mass_and_angle_are_the_hand_computed_ones():
    stage, v = sv.scalar_event_variables(*buffers([signal_like_event()]))
    assert stage.tolist() == [sv.STAGE_PHI_CANDIDATE]
    assert v.shape == (len(sv.VARIABLES), 1)
    col = {name: v[sv.COLUMN[name], 0] for name in sv.VARIABLES}
    pair = four_momentum(MU_MINUS, "mu") + four_momentum(MU_PLUS, "mu")
    taus = four_momentum(PI_MINUS, "pi") + four_momentum(PI_PLUS, "pi")
    missing = np.array([cms_frame()[0], 0.0, 0.0, 0.0]) - pair - taus
    assert col["pair_mass"] == pytest.approx(mass(pair), abs=1e-5)
    assert col["pair_flavour"] == c.PDG_MUON
    assert col["missing_mass"] == pytest.approx(mass(missing), abs=1e-4)
    assert col["missing_theta_cms"] == pytest.approx(math.atan2(math.hypot(*missing[1:3]), missing[3]), abs=1e-5)
    assert col["tau_pair_mass"] == pytest.approx(mass(taus), abs=1e-5)
    assert col["tau_p_max_cms"] == pytest.approx(np.linalg.norm(PI_MINUS), abs=1e-5)
    assert col["tau_p_min_cms"] == pytest.approx(np.linalg.norm(PI_PLUS), abs=1e-5)
    assert col["pair_e_cms"] == pytest.approx(pair[0], abs=1e-5)
    assert col["e_visible_cms"] == pytest.approx(pair[0] + taus[0], abs=1e-5)
    assert col["e_neutral_lab"] == 0.0 and col["n_cluster"] == 0
    assert col["pair_vertex_pvalue"] > 0.5  # both from the IP, no displacement
    assert 0.5 <= col["thrust_tracks_cms"] <= 1.0


def test_electron_pair_takes_the_electron_mass_and_flavour():
    stage, v = sv.scalar_event_variables(*buffers([signal_like_event("e")]))
    pair = four_momentum(MU_MINUS, "e") + four_momentum(MU_PLUS, "e")
    assert stage.tolist() == [sv.STAGE_PHI_CANDIDATE]
    assert v[sv.COLUMN["pair_flavour"], 0] == c.PDG_ELECTRON
    assert v[sv.COLUMN["pair_mass"], 0] == pytest.approx(mass(pair), abs=1e-5)


def test_back_to_back_tracks_have_thrust_one_and_clusters_add_energy():
    event = [track((1.0, 0, 0), -1, "mu"), track((-1.0, 0, 0), 1, "mu"), track((0.5, 0, 0), -1, "pi"), track((-0.5, 0, 0), 1, "pi")]
    clusters = [[(0.3, 1.2, 0.4), (0.2, 2.0, -1.0)]]
    _, v = sv.scalar_event_variables(*buffers([event], clusters))
    assert v[sv.COLUMN["thrust_tracks_cms"], 0] == pytest.approx(1.0, abs=1e-5)
    assert v[sv.COLUMN["e_neutral_lab"], 0] == pytest.approx(0.5, abs=1e-6)
    assert v[sv.COLUMN["n_cluster"], 0] == 2
    assert v[sv.COLUMN["missing_mass"], 0] == pytest.approx(
        math.sqrt((cms_frame()[0] - 2 * math.hypot(1.0, MASS["mu"]) - 2 * math.hypot(0.5, MASS["pi"])) ** 2), abs=1e-4
    )


def test_the_prompt_pair_is_chosen_over_one_with_a_displaced_track():
    # mu- (prompt), mu+ (prompt), mu- (displaced by 0.5 mm, as from a tau), pi+
    displaced = sel.TRACK_DR_MAX_CM * 0.05
    event = [
        track(PI_MINUS, -1, "mu", dr=displaced),
        track(MU_MINUS, -1, "mu"),
        track(PI_PLUS, +1, "pi"),
        track(MU_PLUS, +1, "mu"),
    ]
    _, v = sv.scalar_event_variables(*buffers([event]))
    prompt = four_momentum(MU_MINUS, "mu") + four_momentum(MU_PLUS, "mu")
    assert v[sv.COLUMN["pair_mass"], 0] == pytest.approx(mass(prompt), abs=1e-5)


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (signal_like_event()[:3], sv.STAGE_NONE),  # three tracks
        ([*signal_like_event()[:3], track(PI_PLUS, +1, "pi", dr=1.5)], sv.STAGE_FOUR_TRACKS),  # |dr| > 1 cm
        ([*signal_like_event()[:3], track(PI_PLUS, +1, "pi", dz=-6.0)], sv.STAGE_FOUR_TRACKS),  # |dz| > 5 cm
        ([*signal_like_event()[:3], track(PI_PLUS, -1, "pi")], sv.STAGE_IMPACT_PARAMETERS),  # net charge -2
        ([track(p, q, "pi") for p, q in ((MU_MINUS, -1), (PI_MINUS, -1), (MU_PLUS, 1), (PI_PLUS, 1))], sv.STAGE_ZERO_NET_CHARGE),
        (  # an electron and a muon: lepton ID, but no same-flavour pair
            [track(MU_MINUS, -1, "e"), track(PI_MINUS, -1, "pi"), track(MU_PLUS, 1, "mu"), track(PI_PLUS, 1, "pi")],
            sv.STAGE_LEPTON_ID,
        ),
        (  # two mu- : same flavour but same sign
            [track(MU_MINUS, -1, "mu"), track(PI_MINUS, -1, "mu"), track(MU_PLUS, 1, "pi"), track(PI_PLUS, 1, "pi")],
            sv.STAGE_LEPTON_ID,
        ),
        (signal_like_event(), sv.STAGE_PHI_CANDIDATE),
    ],
)
def test_preselection_stage(event, expected):
    stage, v = sv.scalar_event_variables(*buffers([event]))
    assert stage.tolist() == [expected]
    assert v.shape[1] == (1 if expected == sv.STAGE_PHI_CANDIDATE else 0)


def test_columns_follow_the_candidate_events_in_order():
    events = [signal_like_event(), signal_like_event()[:3], signal_like_event("e")]
    stage, v = sv.scalar_event_variables(*buffers(events))
    assert stage.tolist() == [sv.STAGE_PHI_CANDIDATE, sv.STAGE_NONE, sv.STAGE_PHI_CANDIDATE]
    assert v[sv.COLUMN["pair_flavour"]].tolist() == [c.PDG_MUON, c.PDG_ELECTRON]


def test_counter_mismatch_is_a_value_error():
    n_track, tracks, n_cluster, clusters = buffers([signal_like_event()])
    n_track[0] = 5
    with pytest.raises(ValueError, match="nTrack sums to 5"):
        sv.scalar_event_variables(n_track, tracks, n_cluster, clusters)


def test_rectangular_cut_and_window_bounds():
    mass_ok, both = sel.passes_rectangular_cut(np.array([1.9, 2.1, 5.9, 6.1, 3.0]), np.radians([90, 90, 90, 90, 20.0]))
    assert mass_ok.tolist() == [False, True, True, False, True]
    assert both.tolist() == [False, True, True, False, False]
    table = sel.WindowTable((sel.PairMassWindow(0.1, 0.002), sel.PairMassWindow(1.0, 0.01)), 3.0)
    inside = table.window_matrix(np.array([0.105, 0.105, 1.02, 1.04]), np.array([11, 13, 13, 13]))
    assert inside.tolist() == [[True, False, False, False], [False, False, True, False]]
    assert sel.decay_flavour(0.2) == c.PDG_ELECTRON and sel.decay_flavour(0.22) == c.PDG_MUON
