"""Four leptons by conversion, e+e- -> gamma* gamma* -> (l+l-)(l'+l'-) (belle_mc.four_lepton, docs/generator.md)."""

import itertools

import numpy as np
import pytest

from belle_mc.channels import CHANNELS
from belle_mc.four_lepton import (
    DECAY_RATIO_MAX,
    FourLeptonConversion,
    conversion_decay_ratios,
    gamma_gamma_xsec_pb,
    vector_pair_bracket,
    vector_pair_kinematics,
    vector_pair_xsec_pb,
)
from belle_mc.montecarlo import MixtureProcess, integrate, sample_unweighted
from belle_mc.kinematics import two_body_decay
from belle_mc.particles import invariant_mass2
from belle_mc.processes import PairEmission, kroll_wada_factor
from core import constants as c

SQRT_S = 10.58


@pytest.fixture(scope="module")
def four_mu_conversion():
    proc = FourLeptonConversion(c.MUON_MASS_GEV, c.MUON_MASS_GEV, sqrt_s=SQRT_S, energy_spread=0.0)
    cs = integrate(proc, 400_000)
    events = sample_unweighted(proc, np.random.default_rng(5), 60_000, cs.max_weight)
    return proc, cs, events


@pytest.mark.parametrize("sqrt_s", [1.0, 10.58, 91.19])
def test_massless_limit_is_qed_annihilation_into_two_photons(sqrt_s):
    # m1 = m2 = 0 with the 1/2 of identical photons: (2 pi alpha^2 / s) [ln(s / m_e^2) - 1]
    assert vector_pair_xsec_pb(sqrt_s, 0.0, 0.0) / 2.0 == pytest.approx(gamma_gamma_xsec_pb(sqrt_s), rel=1e-6)
    # small but nonzero masses: continuous, electron-mass regulated
    assert vector_pair_xsec_pb(sqrt_s, 1e-4, 1e-4) / 2.0 == pytest.approx(gamma_gamma_xsec_pb(sqrt_s), rel=0.05)


def _gamma_matrices():
    i2, z2 = np.eye(2), np.zeros((2, 2))
    sig = [np.array([[0, 1], [1, 0]]), np.array([[0, -1j], [1j, 0]]), np.array([[1, 0], [0, -1]])]
    g0 = np.block([[i2, z2], [z2, -i2]]).astype(complex)
    return [g0] + [np.block([[z2, s], [-s, z2]]).astype(complex) for s in sig]


def test_vector_pair_bracket_is_the_dirac_trace():
    """Spin-summed |M|^2 of e-(p1) e+(p2) -> V1(k1) V2(k2) by t/u electron exchange (massless e, -g sums) = 8 e^4 [bracket]."""
    gam = _gamma_matrices()
    metric = np.array([1.0, -1.0, -1.0, -1.0])

    def slash(p):
        return sum(metric[m] * p[m] * gam[m] for m in range(4))

    rng = np.random.default_rng(3)
    for m1, m2 in [(0.3, 0.5), (1.2, 0.2), (0.0, 0.7)]:
        rs = 2.5
        s = rs * rs
        e = rs / 2
        k = np.sqrt((s - (m1 + m2) ** 2) * (s - (m1 - m2) ** 2)) / (2 * rs)
        e1 = (s + m1**2 - m2**2) / (2 * rs)
        cos_t, phi = rng.uniform(-0.95, 0.95), rng.uniform(0, 2 * np.pi)
        sin_t = np.sqrt(1 - cos_t**2)
        p1, p2 = np.array([e, 0, 0, e]), np.array([e, 0, 0, -e])
        k1 = np.array([e1, k * sin_t * np.cos(phi), k * sin_t * np.sin(phi), k * cos_t])
        k2 = p1 + p2 - k1
        t = np.sum(metric * (p1 - k1) ** 2)
        u = np.sum(metric * (p1 - k2) ** 2)
        prop_t, prop_u = slash(p1 - k1) / t, slash(p1 - k2) / u
        total = 0.0
        for mu in range(4):
            for nu in range(4):
                amp = gam[nu] @ prop_t @ gam[mu] + gam[mu] @ prop_u @ gam[nu]
                amp_bar = gam[0] @ amp.conj().T @ gam[0]
                total += metric[mu] * metric[nu] * np.trace(slash(p2) @ amp @ slash(p1) @ amp_bar).real
        assert total / 8.0 == pytest.approx(vector_pair_bracket(-t, -u, s, m1**2, m2**2), rel=1e-10)


def test_propagator_variables_follow_the_kinematics():
    # |t - m_e^2| + |u - m_e^2| = s - m1^2 - m2^2 up to O(m_e^2), and d is the cos = 1 end of |t - m_e^2|
    for m1, m2 in [(0.3, 0.4), (3.0, 5.0), (0.0, 0.0)]:
        e1, k, p, d = vector_pair_kinematics(SQRT_S, m1**2, m2**2)
        assert 2 * d + 4 * p * k == pytest.approx(SQRT_S**2 - m1**2 - m2**2, abs=1e-5)
        t_direct = m1**2 - 2 * (0.5 * SQRT_S * e1 - p * k)  # (p_e- - k1)^2 - m_e^2 at cos = 1
        assert d == pytest.approx(-t_direct, rel=1e-6, abs=1e-9)


def test_conversion_conserves_four_momentum_and_keeps_leptons_on_shell(four_mu_conversion):
    _, _, ev = four_mu_conversion
    leptons = [ev["emitter_minus"], ev["emitter_plus"], ev["pair_minus"], ev["pair_plus"]]
    total = sum(leptons)
    np.testing.assert_allclose(total[:, 0], ev["sqrt_s"], atol=1e-9)
    np.testing.assert_allclose(total[:, 1:], 0.0, atol=1e-9)
    for lep in leptons:
        np.testing.assert_allclose(invariant_mass2(lep), c.MUON_MASS_GEV**2, atol=1e-8)


def _pair_density_per_log_m2(m1, ml, other_ml, n_other=200):
    """Predicted d sigma / d ln m1^2 up to a constant: KW(m1) int d ln m2^2 (alpha/3pi) KW(m2) sigma_VV(m1, m2)."""
    lo, hi = np.log((2 * other_ml) ** 2), np.log((SQRT_S - m1) ** 2)
    x, w = np.polynomial.legendre.leggauss(n_other)
    log_m2 = lo + 0.5 * (x + 1) * (hi - lo)
    m2 = np.exp(0.5 * log_m2)
    inner = sum(wi * kroll_wada_factor(mi, other_ml) * vector_pair_xsec_pb(SQRT_S, m1, mi, 60) for wi, mi in zip(w, m2))
    return kroll_wada_factor(m1, ml) * inner * 0.5 * (hi - lo)


def test_pair_masses_start_at_threshold_and_follow_dm2_over_m2(four_mu_conversion):
    _, _, ev = four_mu_conversion
    m_a = np.sqrt(invariant_mass2(ev["emitter_minus"] + ev["emitter_plus"]))
    m_b = np.sqrt(invariant_mass2(ev["pair_minus"] + ev["pair_plus"]))
    assert m_a.min() >= 2 * c.MUON_MASS_GEV - 1e-9 and m_b.min() >= 2 * c.MUON_MASS_GEV - 1e-9
    assert np.all(m_a + m_b < SQRT_S)
    # identical pairs: both masses have the same spectrum
    assert np.median(m_a) == pytest.approx(np.median(m_b), rel=0.05)
    # 1/m^2: equal numbers per unit ln m^2, up to the Kroll-Wada factor and the slow dependence of
    # sigma(e+e- -> V1 V2) on the masses; the prediction integrates both over the other pair.
    edges = np.array([0.5, 1.0, 2.0, 4.0])
    counts, _ = np.histogram(np.concatenate([m_a, m_b]), edges)
    predicted = []
    for lo, hi in itertools.pairwise(edges):
        mids = np.exp(0.5 * np.linspace(np.log(lo**2), np.log(hi**2), 7))
        predicted.append(np.mean([_pair_density_per_log_m2(m, c.MUON_MASS_GEV, c.MUON_MASS_GEV, 40) for m in mids]))
    predicted = np.array(predicted)
    ratio_measured = counts[1:] / counts[0]
    ratio_predicted = predicted[1:] / predicted[0]
    err = ratio_measured * np.sqrt(1 / counts[1:] + 1 / counts[0])
    assert np.all(np.abs(ratio_measured - ratio_predicted) < 4 * err + 0.02)
    # and the spectrum stays close to flat in ln m^2 (the 1/m^2 law): within 50% over a factor 64 in m^2
    # (measured 0.78 and 0.62: sigma(e+e- -> V1 V2) falls slowly as the masses rise)
    assert np.all((ratio_measured > 0.5) & (ratio_measured < 1.5))


def test_conversion_pairs_are_back_to_back_and_along_the_beams(four_mu_conversion):
    _, _, ev = four_mu_conversion
    pa = (ev["emitter_minus"] + ev["emitter_plus"])[:, 1:]
    pb = (ev["pair_minus"] + ev["pair_plus"])[:, 1:]
    # two-body e+e- -> gamma* gamma* at fixed sqrt(s): the pairs recoil exactly against each other in the CM frame
    np.testing.assert_allclose(pa + pb, 0.0, atol=1e-9)
    # electron exchange in t and u: the pairs go forward/backward along the beams (1/t and 1/u poles);
    # an isotropic production would put 10% at |cos| > 0.9
    cos_a = pa[:, 2] / np.linalg.norm(pa, axis=1)
    assert np.mean(np.abs(cos_a) > 0.9) > 0.5
    # forward-backward symmetric (the two identical virtual photons)
    assert abs(np.mean(cos_a > 0) - 0.5) < 0.01


def test_cross_sections_and_symmetry_factor():
    mu, tau = c.MUON_MASS_GEV, c.TAU_MASS_GEV
    four_mu = integrate(FourLeptonConversion(mu, mu, sqrt_s=SQRT_S, energy_spread=0.0), 400_000)
    # same-flavour pairs carry the 1/2 of identical virtual photons: compare with the distinct-label integral
    unlabelled = FourLeptonConversion(mu, mu * (1 + 1e-12), sqrt_s=SQRT_S, energy_spread=0.0)
    assert unlabelled.symmetry == 1.0
    assert integrate(unlabelled, 400_000).xsec_pb == pytest.approx(2 * four_mu.xsec_pb, rel=0.02)
    mu_tau = integrate(FourLeptonConversion(mu, tau, sqrt_s=SQRT_S, energy_spread=0.0), 400_000)
    # heavier pair threshold: fewer mu mu tau tau than 4 mu, but the same order
    assert 0.2 * four_mu.xsec_pb < mu_tau.xsec_pb < four_mu.xsec_pb
    # rough size from the leading logs: sigma_VV ~ (2 pi alpha^2 / s) ln(s^2 / m^4) times two pair factors
    assert 0.05 < four_mu.xsec_pb < 1.0


@pytest.mark.parametrize("channel, parts", [
    ("aafh_mumumumu", lambda: [PairEmission(c.MUON_MASS_GEV, c.MUON_MASS_GEV),
                               FourLeptonConversion(c.MUON_MASS_GEV, c.MUON_MASS_GEV)]),
    ("aafh_mumutautau", lambda: [PairEmission(c.MUON_MASS_GEV, c.TAU_MASS_GEV, names=("muon", "tau")),
                                 PairEmission(c.TAU_MASS_GEV, c.MUON_MASS_GEV, names=("tau", "muon")),
                                 FourLeptonConversion(c.MUON_MASS_GEV, c.TAU_MASS_GEV, names=("muon", "tau"))]),
])
def test_channel_is_the_sum_of_pair_emission_and_conversion(channel, parts):
    proc = CHANNELS[channel].make_process(None)
    assert isinstance(proc, MixtureProcess)
    assert any(isinstance(p, FourLeptonConversion) for p in proc.components)
    total = integrate(proc)
    # the mixture's default integration: 1M points, seed 20231028 + k for component k
    separate = [integrate(p, 1_000_000, seed=20231028 + k).xsec_pb for k, p in enumerate(parts())]
    assert total.xsec_pb == pytest.approx(sum(separate), rel=1e-12)
    assert CHANNELS[channel].model_version >= 2
    # events: each component in proportion to its cross section, and the particle builder's output
    rng = np.random.default_rng(9)
    ev = sample_unweighted(proc, rng, 4_000, float("nan"))
    frac = np.bincount(ev["component"], minlength=len(separate)) / 4_000
    expected = np.array(separate) / sum(separate)
    assert np.all(np.abs(frac - expected) < 5 * np.sqrt(expected * (1 - expected) / 4_000) + 1e-3)
    particles = CHANNELS[channel].build_particles(rng, ev)
    muons = np.abs(particles.pdg) == c.PDG_MUON
    assert np.count_nonzero(muons) >= 2 * 4_000


def test_monte_carlo_integral_equals_the_quadrature():
    """The proposal densities of FourLeptonConversion: its MC integral against a deterministic quadrature over both masses."""
    for ml1, ml2 in [(c.MUON_MASS_GEV, c.MUON_MASS_GEV), (c.MUON_MASS_GEV, c.TAU_MASS_GEV)]:
        proc = FourLeptonConversion(ml1, ml2, sqrt_s=SQRT_S, energy_spread=0.0)
        mc = integrate(proc, 400_000)
        lo1, hi1 = np.log(proc.m2_min[0]), np.log((SQRT_S - 2 * ml2) ** 2)
        x, w = np.polynomial.legendre.leggauss(48)
        total = 0.0
        for xi, wi in zip(x, w, strict=True):
            m1 = np.exp(0.5 * (lo1 + 0.5 * (xi + 1) * (hi1 - lo1)))
            lo2, hi2 = np.log(proc.m2_min[1]), np.log((SQRT_S - m1) ** 2)
            if hi2 <= lo2:
                continue
            m2 = np.exp(0.5 * (lo2 + 0.5 * (x + 1) * (hi2 - lo2)))
            inner = sum(
                wj * kroll_wada_factor(mj, ml2) * vector_pair_xsec_pb(SQRT_S, m1, mj, 48) for wj, mj in zip(w, m2, strict=True)
            )
            total += wi * kroll_wada_factor(m1, ml1) * inner * 0.5 * (hi2 - lo2)
        quadrature = proc.symmetry * (c.ALPHA_EM / (3 * np.pi)) ** 2 * total * 0.5 * (hi1 - lo1)
        assert mc.xsec_pb == pytest.approx(quadrature, rel=0.005)  # measured: 0.2971 vs 0.2967, 0.1209 vs 0.1207 pb


def _isotropic(rng, n):
    cos_t, phi = rng.uniform(-1, 1, n), rng.uniform(0, 2 * np.pi, n)
    sin_t = np.sqrt(1 - cos_t**2)
    return np.stack([sin_t * np.cos(phi), sin_t * np.sin(phi), cos_t], axis=-1)


def _production_points(ml1, ml2, n, seed):
    proc = FourLeptonConversion(ml1, ml2, sqrt_s=SQRT_S, energy_spread=0.0)
    rng = np.random.default_rng(seed)
    prop = proc.propose(rng, 20 * n)
    keep = np.flatnonzero(prop.weight > 0)[:n]
    state = {k: v[keep] for k, v in prop.state.items()}
    v1, v2 = proc.virtual_photons(rng, state)
    return proc, state["sqrt_s"], v1, v2, rng


def _decay(rng, v1, v2, ml1, ml2):
    a, b = two_body_decay(v1, ml1, ml1, _isotropic(rng, len(v1)))
    c4, d4 = two_body_decay(v2, ml2, ml2, _isotropic(rng, len(v2)))
    return a, b, c4, d4


def test_decay_ratio_is_the_full_matrix_element_over_its_angular_average():
    """r against the explicit 2 -> 4 trace: L1_mu rho L2_nu sigma Tr[p2 Gamma^mu nu p1 Gamma-bar^rho sigma] (all 256 index sets)."""
    gam = _gamma_matrices()
    metric = np.array([1.0, -1.0, -1.0, -1.0])

    def slash(p):
        return sum(metric[m] * p[m] * gam[m] for m in range(4))

    def lower(p):
        return metric * p

    for ml1, ml2 in [(c.MUON_MASS_GEV, c.MUON_MASS_GEV), (c.MUON_MASS_GEV, c.TAU_MASS_GEV)]:
        _, rs, v1, v2, rng = _production_points(ml1, ml2, 3, seed=4)
        a, b, c4, d4 = _decay(rng, v1, v2, ml1, ml2)
        r = conversion_decay_ratios(rs, a, b, c4, d4, ml1, ml2)
        for i in range(3):
            e = rs[i] / 2
            p1, p2 = np.array([e, 0, 0, e]), np.array([e, 0, 0, -e])
            q1, q2 = a[i] + b[i], c4[i] + d4[i]
            t = np.sum(metric * (p1 - q1) ** 2)
            u = np.sum(metric * (p1 - q2) ** 2)
            s1, s2 = slash(p1 - q1) / t, slash(p1 - q2) / u

            def pair_tensor(x, y, m):
                xl, yl = lower(x), lower(y)
                return 4 * (np.outer(xl, yl) + np.outer(yl, xl) - np.diag(metric) * (np.sum(metric * x * y) + m * m))

            l1, l2 = pair_tensor(a[i], b[i], ml1), pair_tensor(c4[i], d4[i], ml2)
            full = 0.0
            for mu in range(4):
                for nu in range(4):
                    amp = gam[nu] @ s1 @ gam[mu] + gam[mu] @ s2 @ gam[nu]
                    for rho in range(4):
                        for sg in range(4):
                            amp_bar = gam[rho] @ s1 @ gam[sg] + gam[sg] @ s2 @ gam[rho]
                            full += l1[mu, rho] * l2[nu, sg] * np.trace(slash(p2) @ amp @ slash(p1) @ amp_bar).real
            m1sq, m2sq = np.sum(metric * q1**2), np.sum(metric * q2**2)
            b1, b2 = 1 - 4 * ml1**2 / m1sq, 1 - 4 * ml2**2 / m2sq
            average = (2 / 3) ** 2 * m1sq * m2sq * (3 - b1) * (3 - b2) * 8 * vector_pair_bracket(-t, -u, 4 * e * e, m1sq, m2sq)
            assert r[i] == pytest.approx(full / average, rel=1e-9)


def test_decay_ratio_averages_to_one_and_stays_below_its_bound():
    # current conservation: averaging over both decay directions gives back the -g_mu nu production
    # cross section, so keeping decays with probability r / r_max leaves the production distribution alone
    for ml1, ml2 in [(c.MUON_MASS_GEV, c.MUON_MASS_GEV), (c.MUON_MASS_GEV, c.TAU_MASS_GEV)]:
        _, rs, v1, v2, rng = _production_points(ml1, ml2, 40, seed=6)
        reps = 400
        r = np.array([conversion_decay_ratios(rs, *_decay(rng, v1, v2, ml1, ml2), ml1, ml2) for _ in range(reps)])
        assert np.all(r >= 0.0) and r.max() < DECAY_RATIO_MAX
        per_point = r.mean(axis=0)
        sem = r.std(axis=0) / np.sqrt(reps)
        assert np.all(np.abs(per_point - 1.0) < 5 * sem + 1e-3)
        assert r.std() > 0.1  # the decays are not isotropic: the virtual photons are polarised
