"""90% CL upper limits on the invisible Z' from the processor output, one counting experiment per mass.

The chain, each step a function of the previous one's output:

1. :func:`window_yields` reads the pickled result dict of ``run.py`` (interfaces.md §4)
   and returns, per mass hypothesis m, the signal efficiency eps(m) (window count of the
   signal sample of mass m over its generated events), the expected background
   B(m) = sum_d n_d w_d over the background datasets d (window count n_d, event weight
   w_d = xsec_pb lumi_fb 1000 / n_generated) and its Monte Carlo statistical
   uncertainty sigma_B^2 = sum_d n_d w_d^2, with the signal yield at g' = 1,
   S1 = xsec_pb(g' = 1) BR(Z' -> invisible) lumi eps.
2. :func:`pseudo_data` makes the observation (see there for the choices) and
   :func:`counting_workspace` a pyhf workspace per mass: one channel with one bin,
   signal with a free normalisation ``mu`` and background with a ``shapesys`` (Poisson,
   Barlow-Beeston-lite) constraint of width sigma_B.
3. :func:`upper_limits` gives the 90% CL CLs upper limit on ``mu`` (observed and
   expected median with +-1 and +-2 sigma bands) and :func:`compute_limits` converts
   it for every mass to events, sigma x BR (pb) and g'.

The signal in each workspace is normalised to a reference coupling g'_ref(m) near the
expected sensitivity (a 1-2-5 round number), so that the fitted ``mu`` is of order one
(fits of a ``mu`` of 1e-6 fail): ``mu = (g' / g'_ref)^2``. The signal yield scales
as g'^2 and BR(invisible) does not depend on g', so a limit ``mu_up`` means
g' < g'_ref sqrt(mu_up) and sigma x BR < mu_up S_ref / (lumi eps).

Calculators (``calculator=``):

- ``"asymptotic"``: pyhf, test statistic q~_mu, asymptotic formulae, the limit found by
  :func:`pyhf.infer.intervals.upper_limits.toms748_scan` (``upper_limit(scan=None)``
  of pyhf 0.7.6 does not pass ``level`` on and would give 95% CL). The fits use
  :class:`BoundedQuasiNewtonOptimizer` (L-BFGS-B polished by SLSQP), because pyhf's default
  SLSQP silently stops at its starting point with 1e5-1e6 background events. Right for
  large counts; where the MC statistics dominate (sigma_B >> sqrt(B), a few tens of
  effective MC events) its +-2 sigma bands are up to ~15% narrower than the exact ones.
- ``"exact"``: the same CLs = CL_{s+b} / CL_b for this one-bin counting experiment with
  Poisson sums instead of asymptotic formulae: CL_x = P(n <= n_obs) under s + b (x = s+b)
  or b. The Monte Carlo uncertainty enters by averaging over a background that is
  Gamma-distributed with mean B and standard deviation sigma_B (the count is then
  negative binomial); expected limits are those for n_obs at the 2.3, 15.9, 50, 84.1,
  97.7% quantiles of the background-only count. Zero background and zero observed gives
  the textbook 2.303 events, where the asymptotic formulae give 1.35. (pyhf's toy
  calculator would do the same by sampling, but in pyhf 0.7.6 with numpy 2 its
  expected-set step fails, and its toys make the limit noisy.)
- ``"auto"`` (default): ``"exact"`` when the background or the observed count is below
  :data:`AUTO_EXACT_BELOW_EVENTS`, ``"asymptotic"`` otherwise.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pyhf
from numpy.typing import NDArray
from pyhf.infer.intervals.upper_limits import toms748_scan
from scipy import optimize, special, stats

from core.weights import event_weight
from core.zprime_model import branching_fraction_invisible

CONFIDENCE_LEVEL = 0.90
"""Confidence level of the limits (CLs < 1 - CONFIDENCE_LEVEL is excluded)."""
PB_PER_FB_INVERSE = 1000.0
"""An integrated luminosity of 1 fb^-1 times 1 pb is 1000 events."""
WINDOW_KEY = "recoil_mass_window"
"""Key of the raw event count in the recoil-mass window in each ``cutflow_mzp`` entry."""
SIGNAL_CHANNEL = "signal"
"""``channel`` of the Z' signal datasets (interfaces.md §2)."""
EXPECTED_QUANTILES = special.ndtr(np.array([-2.0, -1.0, 0.0, 1.0, 2.0]))
"""Background-only quantiles of the -2, -1, 0, +1, +2 sigma expected limits."""
BAND_LABELS = ("exp_m2", "exp_m1", "exp", "exp_p1", "exp_p2")
"""Column suffixes of the expected limits, in the order of :data:`EXPECTED_QUANTILES`."""
AUTO_EXACT_BELOW_EVENTS = 20.0
"""``calculator="auto"`` computes exactly when the background or the observed count is below this."""
MIN_RELATIVE_MC_UNCERTAINTY = 1e-3
"""A background MC uncertainty below this fraction of B is dropped from the model (its effect on the
limit is < 0.1%, and the Poisson constraint of an enormous effective count makes the fits unstable)."""
POI_UPPER_BOUND = 100.0
"""Upper bound of ``mu`` in the workspaces (the signal is normalised so that the limit is of order 1)."""

Calculator = Literal["auto", "asymptotic", "exact"]
Observation = Literal["asimov", "poisson", "data"]


class ResultFormatError(ValueError):
    """The result dict is not the processor output of interfaces.md §4 (one line saying what is wrong)."""


# --- 1. efficiencies and backgrounds from the result dict ------------------------------------


class SignalEfficiency:
    """Mass and signal efficiency of a window-yield table with ``mzp_mev``, ``signal_window_count``
    and ``signal_generated`` (arrays over the mass hypotheses)."""

    @property
    def mzp_gev(self) -> NDArray[np.float64]:
        return self.mzp_mev / 1000.0

    @property
    def efficiency(self) -> NDArray[np.float64]:
        """Signal efficiency eps: window count / generated events."""
        return self.signal_window_count / self.signal_generated

    @property
    def efficiency_stat(self) -> NDArray[np.float64]:
        """Binomial uncertainty of :attr:`efficiency`."""
        eps = self.efficiency
        return np.sqrt(eps * (1.0 - eps) / self.signal_generated)


@dataclass(frozen=True)
class WindowYields(SignalEfficiency):
    """Inputs of the counting experiment of every mass hypothesis (arrays over ``mzp_mev``)."""

    mzp_mev: NDArray[np.int64]
    """Mass hypotheses with a signal sample, MeV (sorted)."""
    lumi_fb: float
    """Integrated luminosity the yields are for, fb^-1."""
    signal_window_count: NDArray[np.int64]
    """Raw signal MC events of mass m in the window of hypothesis m."""
    signal_generated: NDArray[np.int64]
    """Generated signal MC events of mass m (``n_generated``, summed over the datasets of that mass)."""
    signal_xsec_pb: NDArray[np.float64]
    """sigma(e+e- -> mu mu Z') at g' = 1 before BR(Z' -> invisible), pb."""
    background: NDArray[np.float64]
    """Expected background events B in the window."""
    background_stat: NDArray[np.float64]
    """MC statistical uncertainty sigma_B of :attr:`background`, events."""
    background_mc_count: NDArray[np.int64]
    """Raw background MC events in the window (all background datasets)."""
    background_by_channel: dict[str, NDArray[np.float64]]
    """Expected background events per background ``channel``."""
    observed_data: NDArray[np.int64] | None = None
    """Window counts of the data datasets (those without ``xsec_pb``), or None when there are none."""
    skipped_mzp_mev: tuple[int, ...] = ()
    """Hypotheses of the result without a signal sample of their mass (no efficiency: no limit)."""

    @property
    def br_invisible(self) -> NDArray[np.float64]:
        return branching_fraction_invisible(self.mzp_gev)

    @property
    def signal_yield_g1(self) -> NDArray[np.float64]:
        """Expected signal events at g' = 1: xsec x BR(invisible) x lumi x eps."""
        return self.signal_xsec_pb * self.br_invisible * self.lumi_fb * PB_PER_FB_INVERSE * self.efficiency

    @property
    def background_effective_mc_count(self) -> NDArray[np.float64]:
        """(B / sigma_B)^2: the number of equal-weight MC events with the same relative uncertainty."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(self.background_stat > 0, (self.background / self.background_stat) ** 2, np.inf)


def _require(mapping: Any, key: str, where: str) -> Any:
    if not isinstance(mapping, Mapping):
        raise ResultFormatError(f"{where} is a {type(mapping).__name__}, not a dict")
    if key not in mapping:
        raise ResultFormatError(f"{where} has no {key!r}")
    return mapping[key]


def _window_counts(dataset: str, output: Any, hypotheses: Sequence[int]) -> NDArray[np.int64]:
    cutflow = _require(output, "cutflow_mzp", f"datasets[{dataset!r}]")
    counts = []
    for m in hypotheses:
        if m not in cutflow:
            raise ResultFormatError(f"datasets[{dataset!r}]['cutflow_mzp'] has no hypothesis {m} MeV")
        counts.append(_require(cutflow[m], WINDOW_KEY, f"datasets[{dataset!r}]['cutflow_mzp'][{m}]"))
    return np.asarray(counts, dtype=np.int64)


def window_yields(result: Mapping[str, Any], lumi_fb: float | None = None) -> WindowYields:
    """Signal efficiency, background and its MC uncertainty per mass hypothesis of ``result``.

    ``result`` is the dict of ``results/zprime_invisible.pkl``; ``lumi_fb`` (default: the
    luminosity of the result, ``metadata["lumi_fb"]``) rescales the backgrounds and the signal.
    Datasets of channel ``signal`` give the efficiency of their own mass (several datasets of one
    mass are added), datasets with ``xsec_pb`` and another channel are background, datasets without
    ``xsec_pb`` are data. Raises :class:`ResultFormatError` on anything else.
    """
    metadata = _require(result, "metadata", "result")
    datasets = _require(result, "datasets", "result")
    dataset_metadata = _require(metadata, "dataset_metadata", "metadata")
    if lumi_fb is None:
        lumi_fb = float(_require(metadata, "lumi_fb", "metadata"))
    if not lumi_fb > 0:
        raise ResultFormatError(f"luminosity must be positive, got {lumi_fb} fb^-1")
    if not isinstance(datasets, Mapping) or not datasets:
        raise ResultFormatError("result['datasets'] is empty")

    hypotheses: set[int] = set()
    for name, output in datasets.items():
        hypotheses.update(int(m) for m in _require(output, "cutflow_mzp", f"datasets[{name!r}]"))
    mzp_all = sorted(hypotheses)
    if not mzp_all:
        raise ResultFormatError("no mass hypotheses in any 'cutflow_mzp'")

    signal_count: dict[int, int] = {}
    signal_generated: dict[int, int] = {}
    signal_xsec: dict[int, float] = {}
    n_hyp = len(mzp_all)
    background = np.zeros(n_hyp)
    background_var = np.zeros(n_hyp)
    background_mc = np.zeros(n_hyp, dtype=np.int64)
    by_channel: dict[str, NDArray[np.float64]] = {}
    observed: NDArray[np.int64] | None = None
    for name, output in datasets.items():
        meta = _require(dataset_metadata, name, "metadata['dataset_metadata']")
        where = f"metadata['dataset_metadata'][{name!r}]"
        counts = _window_counts(name, output, mzp_all)
        if "xsec_pb" not in meta:  # data (interfaces.md §2)
            observed = counts if observed is None else observed + counts
            continue
        xsec_pb = float(meta["xsec_pb"])
        n_generated = int(_require(meta, "n_generated", where))
        if n_generated <= 0 or not xsec_pb >= 0:
            raise ResultFormatError(f"{where}: n_generated = {n_generated}, xsec_pb = {xsec_pb}")
        channel = str(_require(meta, "channel", where))
        if channel == SIGNAL_CHANNEL:
            mzp_mev = round(1000.0 * float(_require(meta, "mzp", where)))
            if mzp_mev not in mzp_all:
                continue  # a signal sample without a hypothesis of its mass
            if mzp_mev in signal_xsec and not math.isclose(signal_xsec[mzp_mev], xsec_pb, rel_tol=1e-3):
                raise ResultFormatError(f"signal datasets of {mzp_mev} MeV disagree on xsec_pb")
            signal_count[mzp_mev] = signal_count.get(mzp_mev, 0) + int(counts[mzp_all.index(mzp_mev)])
            signal_generated[mzp_mev] = signal_generated.get(mzp_mev, 0) + n_generated
            signal_xsec[mzp_mev] = xsec_pb
            continue
        weight = event_weight(meta, lumi_fb)
        background += counts * weight
        background_var += counts * weight**2
        background_mc += counts
        by_channel[channel] = by_channel.get(channel, np.zeros(n_hyp)) + counts * weight

    keep = np.array([m in signal_count for m in mzp_all], dtype=bool)
    if not keep.any():
        raise ResultFormatError("no signal dataset matches any mass hypothesis")
    mzp = np.asarray(mzp_all, dtype=np.int64)[keep]
    return WindowYields(
        mzp_mev=mzp,
        lumi_fb=float(lumi_fb),
        signal_window_count=np.array([signal_count[m] for m in mzp], dtype=np.int64),
        signal_generated=np.array([signal_generated[m] for m in mzp], dtype=np.int64),
        signal_xsec_pb=np.array([signal_xsec[m] for m in mzp]),
        background=background[keep],
        background_stat=np.sqrt(background_var[keep]),
        background_mc_count=background_mc[keep],
        background_by_channel={c: v[keep] for c, v in sorted(by_channel.items())},
        observed_data=None if observed is None else observed[keep],
        skipped_mzp_mev=tuple(int(m) for m in np.asarray(mzp_all)[~keep]),
    )


# --- 2. observation and workspaces -------------------------------------------------------------


def pseudo_data(
    yields: WindowYields,
    kind: Observation = "asimov",
    seed: int | None = 0,
    injected_gprime: float = 0.0,
) -> NDArray[np.int64]:
    """The observed window counts the limits are set with, one per hypothesis of ``yields``.

    - ``"asimov"`` (default): the expected count B + S(g'_inj) rounded to an integer, so that the
      observed limit is the limit of a typical experiment without the luck of one Poisson draw
      (it is close to the expected median, not equal: the median of the background-only count is
      not its mean, and q~_mu is evaluated on an integer count);
    - ``"poisson"``: one Poisson draw of B + S(g'_inj), seeded with ``seed`` (an experiment with
      statistical fluctuations, to see the observed curve wander inside the bands);
    - ``"data"``: the window counts of the data datasets of the result (needs such datasets).

    ``injected_gprime`` adds the signal of that coupling (S = g'^2 S1) to the expected count.
    The MC-stat auxiliary measurement is never fluctuated: it is what the MC says.
    """
    expected = yields.background + injected_gprime**2 * yields.signal_yield_g1
    if kind == "asimov":
        return np.rint(expected).astype(np.int64)
    if kind == "poisson":
        return np.random.default_rng(seed).poisson(expected).astype(np.int64)
    if kind == "data":
        if yields.observed_data is None:
            raise ResultFormatError("the result has no data datasets (datasets without xsec_pb)")
        if injected_gprime:
            raise ValueError("cannot inject signal into data")
        return yields.observed_data.copy()
    raise ValueError(f"unknown observation {kind!r}: asimov, poisson or data")


def reference_coupling(signal_yield_g1: float, background: float, background_stat: float, observed: float) -> float:
    """A round g'_ref (1, 2 or 5 x 10^k) whose signal is near the limit, so that the limit on mu is O(0.1-1).

    The rough limit in events is 2.3 + max(n - B, 0) + 2 sqrt(B + sigma_B^2) (the +2 sigma
    expected limit of a Gaussian counting experiment, plus any excess); g'_ref is the
    next 1-2-5 value above sqrt(rough / S1).
    """
    if not signal_yield_g1 > 0:
        raise ValueError("no signal expected (efficiency 0): no limit")
    rough = 2.3 + max(observed - background, 0.0) + 2.0 * math.sqrt(background + background_stat**2)
    g = math.sqrt(rough / signal_yield_g1)
    decade = 10.0 ** math.floor(math.log10(g))
    for step in (1.0, 2.0, 5.0, 10.0):
        if g <= step * decade * (1 + 1e-12):
            return step * decade
    raise AssertionError("unreachable")  # pragma: no cover


def counting_workspace(
    signal: float,
    background: float,
    background_stat: float,
    observed: float,
    name: str = "zprime_invisible",
    poi_upper_bound: float = POI_UPPER_BOUND,
) -> dict[str, Any]:
    """pyhf workspace (JSON-ready dict, schema 1.0.0) of a one-bin counting experiment.

    Samples ``signal`` (yield at mu = 1, modifier ``mu``: normfactor) and ``background`` (modifier
    ``mc_stat``: shapesys of absolute width ``background_stat``, i.e. a Poisson constraint with
    (B / sigma_B)^2 effective MC events; left out when B = 0 or sigma_B < 0.1% of B). The
    observation is ``observed`` events. The measurement is called ``name``, with POI ``mu``
    in [0, ``poi_upper_bound``].
    """
    if not (signal > 0 and background >= 0 and background_stat >= 0 and observed >= 0):
        raise ValueError(
            f"need signal > 0 and non-negative B, sigma_B, n; got {signal}, {background}, {background_stat}, {observed}"
        )
    modifiers = []
    if background > 0 and background_stat > MIN_RELATIVE_MC_UNCERTAINTY * background:
        modifiers.append({"name": "mc_stat", "type": "shapesys", "data": [float(background_stat)]})
    channel = "recoil_mass_window"
    return {
        "channels": [
            {
                "name": channel,
                "samples": [
                    {
                        "name": "signal",
                        "data": [float(signal)],
                        "modifiers": [{"name": "mu", "type": "normfactor", "data": None}],
                    },
                    {"name": "background", "data": [float(background)], "modifiers": modifiers},
                ],
            }
        ],
        "observations": [{"name": channel, "data": [float(observed)]}],
        "measurements": [
            {
                "name": name,
                "config": {"poi": "mu", "parameters": [{"name": "mu", "bounds": [[0.0, float(poi_upper_bound)]]}]},
            }
        ],
        "version": "1.0.0",
    }


@dataclass(frozen=True)
class CountingExperiment:
    """The numbers of a one-bin :func:`counting_workspace`: signal at mu = 1, B, sigma_B (0 when not modelled), n."""

    signal: float
    background: float
    background_stat: float
    observed: float

    @classmethod
    def from_workspace(cls, workspace: Mapping[str, Any] | pyhf.Workspace) -> CountingExperiment:
        spec = dict(workspace)
        channels = spec["channels"]
        if len(channels) != 1 or any(len(s["data"]) != 1 for s in channels[0]["samples"]):
            raise ValueError("not a one-channel, one-bin counting workspace")
        samples = {s["name"]: s for s in channels[0]["samples"]}
        if set(samples) != {"signal", "background"}:
            raise ValueError(f"expected samples 'signal' and 'background', got {sorted(samples)}")
        stat = [m["data"][0] for m in samples["background"]["modifiers"] if m["type"] in ("shapesys", "staterror")]
        return cls(
            signal=float(samples["signal"]["data"][0]),
            background=float(samples["background"]["data"][0]),
            background_stat=float(stat[0]) if stat else 0.0,
            observed=float(spec["observations"][0]["data"][0]),
        )


# --- 3. limits -------------------------------------------------------------------------------


@dataclass(frozen=True)
class UpperLimit:
    """Upper limit on the POI ``mu`` of one workspace."""

    observed: float
    expected: NDArray[np.float64]
    """Expected limits at -2, -1, 0, +1, +2 sigma (:data:`EXPECTED_QUANTILES`)."""
    calculator: str


class _CountDistribution:
    """P(N <= n) for N = Poisson(s) + N_b at fixed n, where N_b is the background count.

    N_b is Poisson(B) when sigma_B = 0 (or B = 0: N_b = 0), and Poisson of a Gamma-distributed
    mean (mean B, standard deviation sigma_B), i.e. negative binomial, otherwise; the negative-
    binomial terms, which do not depend on s, are computed once.
    """

    def __init__(self, n: float, background: float, background_stat: float) -> None:
        self.n = float(n)
        self.background = background
        self.nb_pmf: NDArray[np.float64] | None = None
        if background > 0 and background_stat > 0:
            k = (background / background_stat) ** 2
            # terms far below the bulk (or far below n when n is in the lower tail) are negligible
            sd = math.sqrt(background + background_stat**2)
            j_low = max(0, math.floor(min(n, background) - 40.0 * sd))
            self.j = np.arange(j_low, int(n) + 1)
            self.nb_pmf = stats.nbinom.pmf(self.j, k, k / (k + background))

    def cdf(self, signal: float) -> float:
        if self.nb_pmf is not None:
            return float(np.sum(self.nb_pmf * stats.poisson.cdf(self.n - self.j, signal)))
        return float(stats.poisson.cdf(self.n, signal + max(self.background, 0.0)))


def _background_quantiles(background: float, background_stat: float) -> NDArray[np.float64]:
    """Counts n at :data:`EXPECTED_QUANTILES` of the background-only count distribution."""
    if background <= 0:
        return np.zeros(len(EXPECTED_QUANTILES))
    if background_stat <= 0:
        return stats.poisson.ppf(EXPECTED_QUANTILES, background)
    k = (background / background_stat) ** 2
    return stats.nbinom.ppf(EXPECTED_QUANTILES, k, k / (k + background))


def exact_cls(mu: float, experiment: CountingExperiment, observed: float | None = None) -> float:
    """CLs = P(N <= n | mu s + b) / P(N <= n | b) of the counting experiment (n: ``observed`` or its own)."""
    n = experiment.observed if observed is None else observed
    counts = _CountDistribution(n, experiment.background, experiment.background_stat)
    clb = counts.cdf(0.0)
    if not clb > 0:
        raise ValueError(f"P(N <= {n:g} | background only) underflows: CLs undefined")
    return counts.cdf(mu * experiment.signal) / clb


def _exact_limit(experiment: CountingExperiment, n: float, cl: float) -> float:
    """mu where CLs(mu) = 1 - cl for the observation n (CLs falls monotonically with mu)."""
    counts = _CountDistribution(n, experiment.background, experiment.background_stat)
    clb = counts.cdf(0.0)
    if not clb > 0:
        raise ValueError(f"P(N <= {n:g} | background only) underflows: CLs undefined")

    def excess(mu: float) -> float:
        return counts.cdf(mu * experiment.signal) / clb - (1.0 - cl)

    high = max(1.0, (n + 3.0) / experiment.signal)
    while excess(high) > 0:
        high *= 2.0
    return float(optimize.brentq(excess, 0.0, high, xtol=1e-12, rtol=1e-10))


def _exact_limits(experiment: CountingExperiment, cl: float) -> UpperLimit:
    b, sb = experiment.background, experiment.background_stat
    quantiles = _background_quantiles(b, sb)
    cache: dict[float, float] = {}
    for n in [experiment.observed, *quantiles]:
        if n not in cache:
            cache[n] = _exact_limit(experiment, n, cl)
    return UpperLimit(cache[experiment.observed], np.array([cache[n] for n in quantiles]), "exact")


class BoundedQuasiNewtonOptimizer(pyhf.optimize.scipy_optimizer):
    """pyhf's scipy optimizer made robust for one-bin fits with 1e5-1e6 events: L-BFGS-B, then SLSQP.

    pyhf's default (SLSQP, fixed parameters as equality constraints) stops at its starting point
    and reports success when the profiled background lies many statistical sigma away (a fit at
    fixed mu returns gamma = 1, q~ jumps by thousands, the CLs curve gets false zeros and the
    expected bands land on them). Here the fixed parameters are taken out of the minimisation,
    L-BFGS-B with central-difference gradients walks to the minimum (forward differences stop it
    early in the narrow mu-gamma valley of a background known to 15%), and SLSQP started there
    polishes it (a minimum on a bound); the lower of the two is kept.
    """

    def _minimize(self, minimizer, func, x0, do_grad=False, bounds=None, fixed_vals=None, options={}):  # noqa: B006 (pyhf's signature)
        full = np.array(x0, dtype=float)
        fixed = dict(fixed_vals or [])
        for index, value in fixed.items():
            full[index] = value
        free = np.array([i for i in range(len(full)) if i not in fixed], dtype=int)

        def reduced(x_free: NDArray[np.float64]) -> Any:
            x = full.copy()
            x[free] = x_free
            if do_grad:
                value, grad = func(x)
                return value, np.asarray(grad)[free]
            return func(x)

        if len(free) == 0:
            value = reduced(np.empty(0))
            return optimize.OptimizeResult(
                x=full, fun=value[0] if do_grad else value, success=True, nit=0, message="all parameters fixed"
            )
        free_bounds = [bounds[i] for i in free] if bounds is not None else None
        result = optimize.minimize(
            reduced,
            full[free],
            method="L-BFGS-B",
            jac=True if do_grad else "3-point",
            bounds=free_bounds,
            options={"maxiter": self.maxiter, "ftol": 1e-12, "gtol": 1e-8, "maxls": 50},
        )
        polished = optimize.minimize(
            reduced,
            result.x,
            method="SLSQP",
            jac=True if do_grad else None,
            bounds=free_bounds,
            options={"maxiter": self.maxiter},
        )
        converged = bool(result.success) or result.status == 2  # 2: no further decrease at machine precision
        if polished.success and polished.fun <= result.fun:
            result, converged = polished, True
        x = full.copy()
        x[free] = result.x
        result.x = x
        result.success = converged
        return result


@contextmanager
def _pyhf_optimizer(optimizer: Any) -> Iterator[None]:
    """Use ``optimizer`` for pyhf fits inside the block, then restore the previous backend and optimizer."""
    tensorlib, previous = pyhf.get_backend()
    pyhf.set_backend(tensorlib, optimizer)
    try:
        yield
    finally:
        pyhf.set_backend(tensorlib, previous)


def _asymptotic_limits(workspace: pyhf.Workspace, cl: float, rtol: float) -> UpperLimit:
    model = workspace.model()
    data = workspace.data(model)
    upper = model.config.suggested_bounds()[model.config.poi_index][1]
    high = min(5.0, upper)
    # The bracket starts above mu = 0: near mu-hat q~ is 0 up to the fit precision (+-1e-9), and a
    # negative q~ makes CLs = 0/0. Should the start still be too close, start 10x higher.
    for low in (1e-4 * upper, 1e-3 * upper, 1e-2 * upper):
        with _pyhf_optimizer(BoundedQuasiNewtonOptimizer()), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            try:
                observed, expected = toms748_scan(
                    data, model, low, high, level=1.0 - cl, rtol=rtol, test_stat="qtilde", calctype="asymptotics"
                )
            except ValueError as err:  # "The function value at x=... is NaN"
                failure = err
                continue
        return UpperLimit(float(observed), np.array([float(e) for e in expected]), "asymptotic")
    raise RuntimeError(f"pyhf asymptotic limit failed: {failure}")


def choose_calculator(experiment: CountingExperiment, calculator: Calculator = "auto") -> str:
    """``"exact"`` or ``"asymptotic"`` for ``experiment`` (``"auto"``: exact below :data:`AUTO_EXACT_BELOW_EVENTS`)."""
    if calculator == "auto":
        small = min(experiment.background, experiment.observed) < AUTO_EXACT_BELOW_EVENTS
        return "exact" if small else "asymptotic"
    if calculator not in ("asymptotic", "exact"):
        raise ValueError(f"unknown calculator {calculator!r}: auto, asymptotic or exact")
    return calculator


def upper_limits(
    workspace: Mapping[str, Any] | pyhf.Workspace,
    cl: float = CONFIDENCE_LEVEL,
    calculator: Calculator = "auto",
    rtol: float = 1e-4,
) -> UpperLimit:
    """CLs upper limit at confidence level ``cl`` on ``mu`` of a one-bin counting ``workspace``.

    Observed (on the workspace's observation) and expected (-2 .. +2 sigma); see the module
    docstring for the calculators.
    """
    ws = workspace if isinstance(workspace, pyhf.Workspace) else pyhf.Workspace(dict(workspace))
    experiment = CountingExperiment.from_workspace(ws)
    if choose_calculator(experiment, calculator) == "exact":
        return _exact_limits(experiment, cl)
    return _asymptotic_limits(ws, cl, rtol)


@dataclass(frozen=True)
class LimitTable:
    """Limits of every mass hypothesis: arrays over :attr:`yields` ``.mzp_mev``; NaN where eps = 0.

    ``mu_*`` are limits on the signal strength relative to g' = 1, i.e. on g'^2; ``events_*`` on
    the number of signal events, ``xsec_br_pb_*`` on sigma(e+e- -> mu mu Z') x BR(Z' -> invisible),
    ``gprime_*`` on g'. Each is a dict keyed ``obs``, ``exp_m2``, ``exp_m1``, ``exp``, ``exp_p1``,
    ``exp_p2``.
    """

    yields: WindowYields
    observed_count: NDArray[np.int64]
    observation: str
    cl: float
    gprime_ref: NDArray[np.float64]
    calculator: tuple[str, ...]
    mu: dict[str, NDArray[np.float64]]
    workspaces: dict[int, dict[str, Any]] = field(repr=False)
    """pyhf workspace spec per mass hypothesis in MeV (only those with eps > 0)."""

    @property
    def events(self) -> dict[str, NDArray[np.float64]]:
        return {k: v * self.yields.signal_yield_g1 for k, v in self.mu.items()}

    @property
    def xsec_br_pb(self) -> dict[str, NDArray[np.float64]]:
        y = self.yields
        return {k: v * y.signal_xsec_pb * y.br_invisible for k, v in self.mu.items()}

    @property
    def gprime(self) -> dict[str, NDArray[np.float64]]:
        return {k: np.sqrt(v) for k, v in self.mu.items()}

    def rows(self) -> list[dict[str, Any]]:
        """One flat dict per mass hypothesis: the inputs, the observation and every limit."""
        y = self.yields
        columns: dict[str, Any] = {
            "mzp_gev": y.mzp_gev,
            "mzp_mev": y.mzp_mev,
            "lumi_fb": np.full(len(y.mzp_mev), y.lumi_fb),
            "signal_xsec_pb_g1": y.signal_xsec_pb,
            "br_invisible": y.br_invisible,
            "signal_window_count": y.signal_window_count,
            "signal_generated": y.signal_generated,
            "efficiency": y.efficiency,
            "efficiency_stat": y.efficiency_stat,
            "signal_yield_g1": y.signal_yield_g1,
            "background": y.background,
            "background_stat": y.background_stat,
            "background_mc_count": y.background_mc_count,
            "observed_count": self.observed_count,
            "calculator": np.array(self.calculator),
            "gprime_ref": self.gprime_ref,
        }
        for quantity, limits in (
            ("gprime", self.gprime),
            ("mu", self.mu),
            ("xsec_br_pb", self.xsec_br_pb),
            ("events", self.events),
        ):
            for key, values in limits.items():
                columns[f"{quantity}_{key}"] = values
        return [{name: _plain(values[i]) for name, values in columns.items()} for i in range(len(y.mzp_mev))]


def _plain(value: Any) -> Any:
    """numpy scalar -> Python scalar (JSON and CSV friendly)."""
    return value.item() if isinstance(value, np.generic) else value


def compute_limits(
    yields: WindowYields,
    observed: NDArray[np.int64] | None = None,
    observation: str = "asimov",
    cl: float = CONFIDENCE_LEVEL,
    calculator: Calculator = "auto",
) -> LimitTable:
    """Limits of every mass hypothesis of ``yields`` with the observed counts ``observed``.

    ``observed`` defaults to ``pseudo_data(yields, "asimov")``; ``observation`` only labels it
    in the output. Hypotheses with no signal in their window get NaN limits and no workspace.
    """
    if observed is None:
        observed = pseudo_data(yields, "asimov")
    observed = np.asarray(observed)
    if observed.shape != yields.mzp_mev.shape or np.any(observed < 0):
        raise ValueError("need one non-negative observed count per mass hypothesis")
    n = len(yields.mzp_mev)
    mu = {key: np.full(n, np.nan) for key in ("obs", *BAND_LABELS)}
    g_ref = np.full(n, np.nan)
    used: list[str] = []
    workspaces: dict[int, dict[str, Any]] = {}
    s1 = yields.signal_yield_g1
    for i, mzp_mev in enumerate(yields.mzp_mev):
        b, sb, n_obs = float(yields.background[i]), float(yields.background_stat[i]), float(observed[i])
        if not s1[i] > 0:
            used.append("none")
            continue
        g_ref[i] = reference_coupling(s1[i], b, sb, n_obs)
        spec = counting_workspace(g_ref[i] ** 2 * s1[i], b, sb, n_obs, name=f"zprime_invisible_mzp_{mzp_mev}MeV")
        limit = upper_limits(spec, cl=cl, calculator=calculator)
        workspaces[int(mzp_mev)] = spec
        used.append(limit.calculator)
        scale = g_ref[i] ** 2  # mu of the workspace -> signal strength relative to g' = 1
        mu["obs"][i] = limit.observed * scale
        for key, value in zip(BAND_LABELS, limit.expected, strict=True):
            mu[key][i] = value * scale
    return LimitTable(
        yields=yields,
        observed_count=observed.astype(np.int64),
        observation=observation,
        cl=cl,
        gprime_ref=g_ref,
        calculator=tuple(used),
        mu=mu,
        workspaces=workspaces,
    )
