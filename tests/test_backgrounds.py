"""Background channels: cross sections and the physics that makes them survive a recoil search."""

import awkward as ak
import numpy as np
import pytest
import uproot

from belle_mc.channels import CHANNELS
from belle_mc.montecarlo import integrate
from core import constants as c
from core.beams import beam_four_momenta_lab, lab_to_cms


def _read(small_sample_dir, small_fileset, dataset):
    files = small_fileset[dataset]["files"]
    return ak.concatenate([uproot.open(small_sample_dir / p)["events"].arrays() for p in files])


def _recoil_mass2_of_two_tracks(arr):
    p = np.stack([ak.to_numpy(arr[f"Track_p{k}"]) for k in "xyz"], axis=-1).astype(np.float64)
    e = np.sqrt((p**2).sum(-1) + c.MUON_MASS_GEV**2)
    total = np.add(*beam_four_momenta_lab())
    return (total[0] - e.sum(1)) ** 2 - ((total[1:] - p.sum(1)) ** 2).sum(-1)


def test_two_photon_eemumu_cross_section_near_aafh():
    xs = integrate(CHANNELS["aafh_eemumu"].make_process(None), 1_000_000)
    # docs/physics.md §4: AAFH 18.9 nb for m(mu mu) > 0.5 GeV; EPA x Breit-Wheeler should be within ~15%
    assert xs.xsec_pb == pytest.approx(18_900, rel=0.15)


def test_four_lepton_cross_sections_are_small_and_ordered():
    four_mu = integrate(CHANNELS["aafh_mumumumu"].make_process(None), 1_000_000).xsec_pb
    mu_mu_tau_tau = integrate(CHANNELS["aafh_mumutautau"].make_process(None), 1_000_000).xsec_pb
    assert 0.01 < four_mu < 0.4  # docs/physics.md: O(0.1-0.4) pb for AAFH (all diagrams); ours: pair emission + conversion, no interference
    assert mu_mu_tau_tau < four_mu


def test_two_photon_spectators_are_mostly_lost(small_sample_dir, small_fileset):
    arr = _read(small_sample_dir, small_fileset, "aafh_eemumu")
    electrons = ak.sum(arr.Track_electronID > 0.9, axis=1)
    n_generated = small_fileset["aafh_eemumu"]["metadata"]["n_generated"]
    assert ak.sum(electrons > 0) / n_generated < 0.05


def test_mumu_with_lost_isr_photon_has_recoil_mass_near_zero(small_sample_dir, small_fileset):
    arr = _read(small_sample_dir, small_fileset, "kkmc_mumu")
    two = arr[(arr.nTrack == 2) & (ak.sum(arr.Track_charge, axis=1) == 0)]
    m2 = _recoil_mass2_of_two_tracks(two)
    assert len(m2) > 0.5 * small_fileset["kkmc_mumu"]["metadata"]["n_generated"]
    # photons down the beam pipe are massless: the recoil M^2 piles up at 0 within the resolution
    assert np.median(m2) == pytest.approx(0.0, abs=0.5)
    assert np.mean(np.abs(m2) < 1.0) > 0.6
    # hard ISR lowers the dimuon CM energy, yet the recoil (a massless photon) stays at M^2 ~ 0
    p = np.stack([ak.to_numpy(two[f"Track_p{k}"]) for k in "xyz"], axis=-1).astype(np.float64)
    p4 = np.concatenate([np.sqrt((p**2).sum(-1, keepdims=True) + c.MUON_MASS_GEV**2), p], axis=-1)
    e_cms = lab_to_cms(p4)[..., 0].sum(1)
    hard = e_cms < 9.0
    assert np.mean(hard) > 0.02
    assert np.median(np.abs(m2[hard])) < 0.5


def test_tau_pairs_have_large_missing_mass_and_few_muon_pairs(small_sample_dir, small_fileset):
    arr = _read(small_sample_dir, small_fileset, "kkmc_tautau")
    two = arr[(arr.nTrack == 2) & (ak.sum(arr.Track_charge, axis=1) == 0)]
    m2 = _recoil_mass2_of_two_tracks(two)
    assert np.median(m2) > 10.0  # four neutrinos carry away mass
    both_mu = ak.to_numpy(ak.sum(two.Track_muonID > 0.9, axis=1) == 2)
    # BR(tau -> mu nu nu)^2 = 3% of pairs, times ID efficiency, plus pion fakes
    assert 0.01 < np.mean(both_mu) < 0.06
