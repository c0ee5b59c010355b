"""Target statistics: what a culture's spontaneous activity should look like, as bands with units.

A *statistic* is one number computed from a :class:`~livn.run.Run` of any backend with the
decodings of :mod:`livn.decoding` (:data:`STATISTICS` lists them with their units). A
:class:`Band` bounds one statistic (``low <= value <= high``, either side open); a
:class:`TargetSet` is a named list of bands with the literature they come from and the run length
they need. :func:`evaluate` measures a run against a set and returns an :class:`Evaluation`: every
statistic, its band, pass or fail, and a distance that is 0 exactly when the value is in its band
(what :mod:`livn.tuning` minimises).

Two sets ship (:data:`TARGET_SETS`):

- ``"asynchronous"`` -- the irregular, asynchronous activity livn's EI1-EI6 defaults are tuned for:
  every cell active at a few Hz, irregular, no network bursts, nearly uncorrelated cells;
- ``"bursting_in_vitro"`` -- dissociated cortical cultures on MEAs after about three weeks in
  vitro: a low mean rate dominated by network bursts that recruit most of the culture, separated by
  seconds of near silence (Wagenaar, Pine & Potter 2006), with correlated channels and neuronal
  avalanches near criticality (Beggs & Plenz 2003).

The bands are our reading of those papers, widened where the papers report a spread across
cultures; each set's ``sources`` says where they come from. Write your own with ``TargetSet(...)``
or ``TargetSet.from_dict``; bad bands and unknown statistics are refused when the set is made.

Two statistics are *stimulated*: they describe the response to electrode pulses rather than the
spontaneous run, and measuring them runs the pulse protocol of :mod:`livn.recruitment` on the env
(fresh cultures at the env's current weights, noise and cell parameters; the env is cleared
afterwards). ``recruitment_threshold`` is the pulse amplitude that makes half the cells near an
electrode fire (the direct response, background noise off); ``evoked_far_fraction`` is the share
of distant cells a strong pulse reaches through the network (noise on, in excess of a control run).
No shipped set bounds them (the papers above report no current thresholds for our electrode
model); give them bands from your own recordings, e.g. ``TargetSet(..., bands=(Band(
"recruitment_threshold", 5, 20), ...))``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np

from livn import decoding

if TYPE_CHECKING:
    from livn.env import Env
    from livn.run import Run

__all__ = [
    "STATISTICS",
    "TARGET_SETS",
    "Band",
    "Evaluation",
    "Measurement",
    "Statistic",
    "TargetSet",
    "evaluate",
    "measure",
    "target_set",
]

#: Distance of one band when the statistic is undefined (NaN: e.g. no bursts to measure).
MISSING_DISTANCE = 2.0
#: A band's distance is capped here, so one wild statistic does not drown the others.
MAX_DISTANCE = 3.0

# Analysis settings shared by the statistics (bins in ms).
BURST_BIN = 10.0  # population-rate bins for network bursts
BURST_FACTOR = 4.0  # a burst bin's rate is at least this times the run's mean rate ...
BURST_MIN_RATE = 2.0  # ... and at least this many Hz per cell
BURST_MERGE_GAP = 100.0  # bursts closer than this (ms) are one burst
BURST_MIN_SPIKES_PER_CELL = 0.25  # a network burst holds at least this many spikes per cell of the culture
CORRELATION_BIN = 10.0
CORRELATION_CELLS = 200  # cells sampled (evenly over the gids) for the cell-pair correlation
SYNCHRONY_BIN = 5.0
AUTOCORRELATION_BIN = 10.0
AVALANCHE_BIN = 4.0
# The pulse protocol of the stimulated statistics (see livn.recruitment; amplitudes in uA).
RECRUITMENT_NEAR = 100.0  # um: the cells whose direct response sets the threshold
RECRUITMENT_FAR = 400.0  # um: the distant cells a pulse reaches only through the network
RECRUITMENT_WINDOW = 10.0  # ms after the pulse onset: the direct response
EVOKED_AMPLITUDE = 50.0  # uA: the strong pulse of evoked_far_fraction
EVOKED_WINDOW = 200.0  # ms after its onset: the network response (Wagenaar et al. 2004: 20-200 ms)
# ms from a fresh start to that pulse: past the onset transient of a fresh culture (a culture with
# depressing synapses bursts as its noise switches on, and the pulse would then find them depleted)
EVOKED_SETTLE = 1500.0
EVOKED_TRIALS = 3  # seeds (env.seed, env.seed + 1, ...) averaged


class Measurement:
    """The decodings of one run, computed once each and shared by the statistics.

    ``env`` supplies the system and the MEA; ``run`` is the part of a recording to measure (drop a
    warm-up with ``run.slice``). Spikes must have been recorded.
    """

    def __init__(self, env: Env, run: Run) -> None:
        if run.spikes is None:
            raise ValueError("target statistics need spikes: record them with env.record_spikes() (make() does by default)")
        if not run.duration or run.duration <= 0:
            raise ValueError(f"target statistics need a run with a positive duration, got {run.duration!r} ms")
        self.env = env
        self.run = run
        self.duration = float(run.duration)
        self._cache: dict[str, Any] = {}

    def _get(self, key: str, compute: Callable[[], Any]) -> Any:
        if key not in self._cache:
            self._cache[key] = compute()
        return self._cache[key]

    @property
    def cell_rates(self) -> np.ndarray:
        """Per-cell rates, Hz ``[n]``."""
        return self._get("rates", lambda: decoding.MeanFiringRate(self.duration, by="cell")(self.env, self.run))

    @property
    def bursts(self) -> dict[str, Any]:
        """Network bursts: :class:`~livn.decoding.NetworkBursts` with the module's settings, keeping those
        that hold at least :data:`BURST_MIN_SPIKES_PER_CELL` spikes per cell (short chance
        coincidences of an asynchronous culture are not network bursts)."""

        def compute() -> dict[str, Any]:
            n = int(self.env.system.num_neurons)
            mean = float(self.cell_rates.mean()) if self.cell_rates.size else 0.0
            threshold = max(BURST_FACTOR * mean, BURST_MIN_RATE)
            found = decoding.NetworkBursts(
                self.duration, bin_size=BURST_BIN, threshold=threshold, merge_gap=BURST_MERGE_GAP
            )(self.env, self.run)
            keep = found["spikes"] >= BURST_MIN_SPIKES_PER_CELL * n  # a network burst recruits the culture
            onsets = found["onsets"][keep]
            return {
                "rate": onsets.size / (self.duration / 1000.0),
                "onsets": onsets,
                "durations": found["durations"][keep],
                "intervals": np.diff(onsets),
                "spikes": found["spikes"][keep],
            }

        return self._get("bursts", compute)

    @property
    def avalanches(self) -> dict[str, Any]:
        """:class:`~livn.decoding.Avalanches` in bins of :data:`AVALANCHE_BIN` ms."""
        return self._get("avalanches", lambda: decoding.Avalanches(self.duration, bin_size=AVALANCHE_BIN)(self.env, self.run))

    @property
    def recruitment(self) -> Any:
        """The direct recruitment curve of the env (:func:`livn.recruitment.recruitment_curve`, noise off)."""
        from livn.recruitment import recruitment_curve

        return self._get("recruitment", lambda: recruitment_curve(
            self.env, near_radius=RECRUITMENT_NEAR, far_radius=RECRUITMENT_FAR, window=RECRUITMENT_WINDOW))

    @property
    def evoked(self) -> Any:
        """The network response to one :data:`EVOKED_AMPLITUDE` pulse with the background noise on."""
        from livn.recruitment import recruitment_curve

        return self._get("evoked", lambda: recruitment_curve(
            self.env, amplitudes=(EVOKED_AMPLITUDE,), near_radius=RECRUITMENT_NEAR, far_radius=RECRUITMENT_FAR,
            window=EVOKED_WINDOW, noise=True, settle=EVOKED_SETTLE, trials=EVOKED_TRIALS))

    def first(self, key: str, make: Callable[[], decoding.Decoding]) -> float:
        """The first entry of a decoding's array output, as a float (cached under ``key``)."""
        return self._get(key, lambda: float(np.asarray(make()(self.env, self.run)).ravel()[0]))


def _mean(values: Any) -> float:
    values = np.asarray(values, dtype=np.float64)
    return float(values.mean()) if values.size else math.nan


def _cell_correlation(m: Measurement) -> float:
    """Mean pairwise correlation of up to :data:`CORRELATION_CELLS` cells' binned spike counts."""
    n = int(m.env.system.num_neurons)
    chosen = np.unique(np.linspace(0, n - 1, min(n, CORRELATION_CELLS)).round().astype(np.int64))
    ids = np.asarray(m.run.spikes.ids, dtype=np.int64)
    times = np.asarray(m.run.spikes.times, dtype=np.float64)
    row = np.full(n, -1, dtype=np.int64)
    row[chosen] = np.arange(chosen.size)
    index, keep, bins = decoding._bins(times, m.duration, CORRELATION_BIN)  # the decodings' grid
    keep &= (ids >= 0) & (ids < n)
    keep[keep] &= row[ids[keep]] >= 0
    counts = np.zeros((chosen.size, bins))
    np.add.at(counts, (row[ids[keep]], index[keep]), 1.0)
    matrix = decoding._pearson(counts)
    pairs = matrix[np.triu_indices(chosen.size, k=1)]
    pairs = pairs[np.isfinite(pairs)]
    return float(pairs.mean()) if pairs.size else math.nan


def _burst_spike_fraction(m: Measurement) -> float:
    total = m.run.spikes.times.size if m.run.spikes is not None else 0
    return float(np.sum(m.bursts["spikes"]) / total) if total else math.nan


def _duration_exponent(m: Measurement) -> float:
    durations = np.asarray(m.avalanches["durations"], dtype=np.float64)
    if durations.size == 0:
        return math.nan
    bins = np.rint(durations / m.avalanches["bin_size"]).astype(np.int64)
    return decoding.power_law_exponent(bins)[0]


@attrs.frozen
class Statistic:
    """One number measured from a run: ``compute(measurement) -> float`` (NaN when undefined).

    ``scale`` is how a value outside a band is scored: ``"log"`` (rates and times spanning decades:
    decades outside the band) or ``"linear"`` (fractions and exponents: band widths outside it).
    ``stimulated``: measured by pulsing the culture (module docstring), not from the run.
    """

    name: str
    unit: str
    description: str
    compute: Callable[[Measurement], float] = attrs.field(repr=False)
    scale: str = "linear"
    stimulated: bool = False


def _statistics() -> dict[str, Statistic]:
    d = decoding
    items = [
        Statistic("mean_rate", "Hz", "mean firing rate per cell", lambda m: _mean(m.cell_rates), "log"),
        Statistic("max_cell_rate", "Hz", "highest firing rate of any cell", lambda m: float(m.cell_rates.max()), "log"),
        Statistic(
            "active_fraction", "1", "fraction of cells that fire at least once",
            lambda m: float(np.mean(m.cell_rates > 0)),
        ),
        Statistic(
            "isi_cv", "1", "mean coefficient of variation of the inter-spike intervals (Poisson: 1)",
            lambda m: m.first("isi_cv", lambda: d.ISICV(m.duration)),
        ),
        Statistic(
            "burst_rate", "Hz",
            f"network bursts per second (population rate in {BURST_BIN:g} ms bins above max({BURST_FACTOR:g} x mean, "
            f"{BURST_MIN_RATE:g} Hz per cell), bursts closer than {BURST_MERGE_GAP:g} ms merged, at least "
            f"{BURST_MIN_SPIKES_PER_CELL:g} spikes per cell in each)",
            lambda m: float(m.bursts["rate"]), "log",
        ),
        Statistic("burst_duration", "ms", "mean duration of a network burst", lambda m: _mean(m.bursts["durations"]), "log"),
        Statistic(
            "inter_burst_interval", "ms", "mean interval between network burst onsets",
            lambda m: _mean(m.bursts["intervals"]), "log",
        ),
        Statistic("burst_spike_fraction", "1", "fraction of all spikes that fall in network bursts", _burst_spike_fraction),
        Statistic(
            "channel_correlation", "1",
            f"mean pairwise Pearson correlation of electrode spike counts ({CORRELATION_BIN:g} ms bins)",
            lambda m: m.first("channel_correlation", lambda: d.ChannelCorrelation(m.duration, bin_size=CORRELATION_BIN)),
        ),
        Statistic(
            "cell_correlation", "1",
            f"mean pairwise Pearson correlation of cells' spike counts ({CORRELATION_BIN:g} ms bins, "
            f"{CORRELATION_CELLS} cells evenly spread over the gids)",
            _cell_correlation,
        ),
        Statistic(
            "peak_synchrony", "1", f"largest fraction of cells firing within one {SYNCHRONY_BIN:g} ms bin",
            lambda m: m.first("peak_synchrony", lambda: d.PeakSynchrony(m.duration, bin_size=SYNCHRONY_BIN)),
        ),
        Statistic(
            "autocorrelation_time", "ms",
            f"lag where the population rate's autocorrelation ({AUTOCORRELATION_BIN:g} ms bins) falls below 1/e",
            lambda m: m.first(
                "autocorrelation_time", lambda: d.AutocorrelationTime(m.duration, bin_size=AUTOCORRELATION_BIN)
            ),
            "log",
        ),
        Statistic(
            "branching_ratio", "1", f"avalanche branching ratio ({AVALANCHE_BIN:g} ms bins; critical: 1)",
            lambda m: float(m.avalanches["branching_ratio"]),
        ),
        Statistic(
            "avalanche_size_exponent", "1", "power-law exponent of avalanche sizes (critical: 3/2)",
            lambda m: float(m.avalanches["exponent"]),
        ),
        Statistic(
            "avalanche_duration_exponent", "1", "power-law exponent of avalanche durations in bins (critical: 2)",
            _duration_exponent,
        ),
        Statistic(
            "recruitment_threshold", "uA",
            f"biphasic pulse amplitude (1-100 uA, log-interpolated) at which half the cells within "
            f"{RECRUITMENT_NEAR:g} um of the electrode fire within {RECRUITMENT_WINDOW:g} ms (background noise off)",
            lambda m: m.recruitment.threshold(0.5), "log", stimulated=True,
        ),
        Statistic(
            "evoked_far_fraction", "1",
            f"fraction of the cells beyond {RECRUITMENT_FAR:g} um of the electrode that fire within "
            f"{EVOKED_WINDOW:g} ms of a {EVOKED_AMPLITUDE:g} uA pulse {EVOKED_SETTLE:g} ms into a fresh culture, "
            f"in excess of a control run without it (background noise on; mean of {EVOKED_TRIALS} seeds)",
            lambda m: float(m.evoked.far[0]), stimulated=True,
        ),
    ]
    return {s.name: s for s in items}


#: Every statistic by name.
STATISTICS: dict[str, Statistic] = _statistics()


def _bound(name: str, value: Any, default: float) -> float:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or math.isnan(value):
        raise ValueError(f"{name} must be a number (or None for no bound), got {value!r}")
    return float(value)


def _known_statistic(name: Any) -> str:
    if name not in STATISTICS:
        raise KeyError(f"unknown statistic {name!r}; the statistics are {sorted(STATISTICS)}")
    return name


@attrs.frozen
class Band:
    """``low <= statistic <= high`` in the statistic's unit; None (or an infinity) leaves a side open."""

    statistic: str = attrs.field(converter=_known_statistic)
    low: float = attrs.field(default=None, converter=lambda v: _bound("low", v, -math.inf))
    high: float = attrs.field(default=None, converter=lambda v: _bound("high", v, math.inf))

    def __attrs_post_init__(self) -> None:
        if self.low > self.high:
            raise ValueError(
                f"band of {self.statistic!r} has low {self.low:g} > high {self.high:g}; swap them "
                "(a band is low <= value <= high)"
            )
        if self.low == -math.inf and self.high == math.inf:
            raise ValueError(f"band of {self.statistic!r} bounds nothing; give low, high or both")

    @property
    def unit(self) -> str:
        return STATISTICS[self.statistic].unit

    def contains(self, value: float) -> bool:
        """Whether ``value`` lies in the band (NaN never does)."""
        return bool(self.low <= value <= self.high)

    def distance(self, value: float) -> float:
        """0 inside the band; outside, how far (decades or band widths, see :class:`Statistic`), capped."""
        if not math.isfinite(value) and not (value == math.inf and self.high == math.inf):
            return MISSING_DISTANCE if math.isnan(value) else MAX_DISTANCE
        if self.contains(value):
            return 0.0
        if STATISTICS[self.statistic].scale == "log":
            positive = [abs(b) for b in (self.low, self.high) if math.isfinite(b) and b != 0]
            floor = 1e-3 * min(positive) if positive else 1e-6  # a silent culture is 3 decades off, not infinitely
            edge = self.low if value < self.low else self.high
            gap = abs(math.log10(max(value, floor)) - math.log10(max(edge, floor)))
        else:
            finite = [b for b in (self.low, self.high) if math.isfinite(b)]
            width = self.high - self.low if len(finite) == 2 and self.high > self.low else max(abs(finite[0]), 1e-9)
            gap = (self.low - value if value < self.low else value - self.high) / width
        return min(MAX_DISTANCE, gap)

    def describe(self) -> str:
        """``"0.2..15 Hz"``, ``"<= 0.2 Hz"`` or ``">= 0.5"``."""
        unit = "" if self.unit == "1" else f" {self.unit}"
        if self.low == -math.inf:
            return f"<= {self.high:g}{unit}"
        if self.high == math.inf:
            return f">= {self.low:g}{unit}"
        return f"{self.low:g}..{self.high:g}{unit}"


def _bands(values: Iterable[Band]) -> tuple[Band, ...]:
    bands = tuple(values)
    if not bands:
        raise ValueError("a target set needs at least one band")
    for band in bands:
        if not isinstance(band, Band):
            raise TypeError(f"a target set's bands must be Band objects, got {band!r}")
    names = [b.statistic for b in bands]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"a target set bounds each statistic once; {repeated} appear more than once")
    return bands


@attrs.frozen
class TargetSet:
    """Named bands of statistics, with where they come from and the recording they need.

    ``duration`` (ms) is how long a run must be measured for the statistics to mean something (burst
    rates need many inter-burst intervals); ``warmup`` (ms) is dropped before measuring.
    """

    name: str
    bands: tuple[Band, ...] = attrs.field(converter=_bands)
    description: str = ""
    sources: tuple[str, ...] = ()
    duration: float = 10_000.0
    warmup: float = 500.0

    def __attrs_post_init__(self) -> None:
        for what in ("duration", "warmup"):
            value = getattr(self, what)
            if not (isinstance(value, numbers.Real) and math.isfinite(value) and value >= (0 if what == "warmup" else 1e-9)):
                raise ValueError(f"{what} must be a finite number of ms ({'>= 0' if what == 'warmup' else '> 0'}), got {value!r}")

    def __getitem__(self, statistic: str) -> Band:
        for band in self.bands:
            if band.statistic == statistic:
                return band
        raise KeyError(f"target set {self.name!r} has no band for {statistic!r}; it bounds {self.statistics}")

    @property
    def statistics(self) -> list[str]:
        return [b.statistic for b in self.bands]

    def to_dict(self) -> dict[str, Any]:
        """A JSON form: open sides are None."""
        return {
            "name": self.name,
            "description": self.description,
            "sources": list(self.sources),
            "duration": self.duration,
            "warmup": self.warmup,
            "bands": {
                b.statistic: [None if math.isinf(b.low) else b.low, None if math.isinf(b.high) else b.high]
                for b in self.bands
            },
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TargetSet:
        """The inverse of :meth:`to_dict`: ``{"name": ..., "bands": {statistic: [low, high]}, ...}``."""
        if not isinstance(data, Mapping) or "bands" not in data or not isinstance(data["bands"], Mapping):
            raise ValueError('a target set is {"name": ..., "bands": {statistic: [low, high], ...}}; bands is missing')
        bands = []
        for statistic, pair in data["bands"].items():
            if not isinstance(pair, (list, tuple)) or len(pair) != 2:
                raise ValueError(f"band of {statistic!r} must be [low, high] (null for an open side), got {pair!r}")
            bands.append(Band(statistic, pair[0], pair[1]))
        known = {"name", "bands", "description", "sources", "duration", "warmup"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown target set fields {unknown}; a target set has {sorted(known)}")
        return cls(
            name=str(data.get("name", "custom")),
            bands=bands,
            description=str(data.get("description", "")),
            sources=tuple(data.get("sources", ())),
            duration=data.get("duration", 10_000.0),
            warmup=data.get("warmup", 500.0),
        )


WAGENAAR_2006 = (
    "Wagenaar DA, Pine J, Potter SM (2006). An extremely rich repertoire of bursting patterns during the "
    "development of cortical cultures. BMC Neuroscience 7:11."
)
BEGGS_PLENZ_2003 = (
    "Beggs JM, Plenz D (2003). Neuronal avalanches in neocortical circuits. J Neurosci 23(35):11167-11177."
)

#: The shipped target sets by name.
TARGET_SETS: dict[str, TargetSet] = {
    "asynchronous": TargetSet(
        name="asynchronous",
        description=(
            "Asynchronous irregular activity: every cell fires at a few Hz, the population rate has no "
            "network bursts and a short memory, cells are nearly uncorrelated (livn's EI1-EI6 defaults)."
        ),
        bands=(
            Band("mean_rate", 1.0, 20.0),
            Band("max_cell_rate", None, 80.0),
            Band("active_fraction", 0.8, None),
            Band("isi_cv", 0.3, None),
            Band("burst_rate", None, 0.2),
            Band("cell_correlation", None, 0.05),
            Band("autocorrelation_time", None, 50.0),
        ),
        sources=("livn's tuned defaults for EI1-EI6 (the models' docstrings give their rates)",),
        duration=5_000.0,
        warmup=500.0,
    ),
    "bursting_in_vitro": TargetSet(
        name="bursting_in_vitro",
        description=(
            "Dissociated cortical cultures on MEAs in their third to fifth week: sparse firing between "
            "network bursts that recruit much of the culture every few seconds, correlated channels, "
            "avalanches near criticality."
        ),
        bands=(
            # Wagenaar et al. 2006: array-wide rates of tenths to a few Hz per electrode in mature
            # dense cultures, with most spikes in bursts.
            Band("mean_rate", 0.2, 15.0),
            Band("max_cell_rate", None, 50.0),
            Band("active_fraction", 0.5, None),
            # Global bursts every few seconds to about a minute apart, lasting ~0.1-1 s.
            Band("burst_rate", 0.02, 1.0),
            Band("burst_duration", 50.0, 2_000.0),
            Band("burst_spike_fraction", 0.4, None),
            # Bursts make cells and electrodes co-vary and give the population rate a memory of
            # tens to hundreds of ms. (An electrode here pools every cell within its output radius of
            # 250 um, about 100 cells of a series culture, so channel correlations run higher than those of
            # sorted single units; the band has no upper bound.)
            Band("cell_correlation", 0.02, None),
            Band("channel_correlation", 0.05, None),
            Band("peak_synchrony", 0.1, None),
            Band("autocorrelation_time", 10.0, 1_000.0),
            # Beggs & Plenz 2003: branching ratio near 1, size exponent near 3/2.
            Band("branching_ratio", 0.5, 1.5),
            Band("avalanche_size_exponent", 1.0, 2.5),
        ),
        sources=(WAGENAAR_2006, BEGGS_PLENZ_2003),
        duration=20_000.0,
        warmup=1_000.0,
    ),
}


def target_set(value: str | TargetSet | Mapping[str, Any]) -> TargetSet:
    """A target set from its name in :data:`TARGET_SETS`, a :class:`TargetSet`, or its dict form."""
    if isinstance(value, TargetSet):
        return value
    if isinstance(value, str):
        if value not in TARGET_SETS:
            raise KeyError(f"unknown target set {value!r}; the shipped sets are {sorted(TARGET_SETS)}")
        return TARGET_SETS[value]
    if isinstance(value, Mapping):
        return TargetSet.from_dict(value)
    raise TypeError(f"a target set is a name, a TargetSet or its dict form, got {value!r}")


@attrs.frozen
class Row:
    """One statistic of an :class:`Evaluation`."""

    statistic: str
    value: float
    band: Band
    passed: bool
    distance: float

    @property
    def unit(self) -> str:
        return self.band.unit


@attrs.frozen
class Evaluation:
    """A run measured against a target set: one :class:`Row` per band."""

    targets: TargetSet
    rows: tuple[Row, ...]

    @property
    def passed(self) -> bool:
        """Every statistic is in its band."""
        return all(r.passed for r in self.rows)

    @property
    def distance(self) -> float:
        """Sum of the rows' distances: 0 exactly when every statistic is in its band."""
        return float(sum(r.distance for r in self.rows))

    @property
    def values(self) -> dict[str, float]:
        return {r.statistic: r.value for r in self.rows}

    @property
    def failed(self) -> list[str]:
        return [r.statistic for r in self.rows if not r.passed]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the set's name, passed, distance, and per statistic value, band, unit, pass."""
        return {
            "targets": self.targets.name,
            "passed": self.passed,
            "distance": self.distance,
            "statistics": {
                r.statistic: {
                    "value": None if math.isnan(r.value) else r.value,
                    "band": r.band.describe(),
                    "unit": r.unit,
                    "passed": r.passed,
                }
                for r in self.rows
            },
        }

    def table(self) -> str:
        """A Markdown table: statistic, value, band, pass."""
        lines = ["| statistic | value | band | |", "|---|---|---|---|"]
        for r in self.rows:
            unit = "" if r.unit == "1" else f" {r.unit}"
            value = "undefined" if math.isnan(r.value) else f"{r.value:.3g}{unit}"
            lines.append(f"| {r.statistic} | {value} | {r.band.describe()} | {'pass' if r.passed else 'FAIL'} |")
        return "\n".join(lines)


def evaluate(env: Env, run: Run, targets: str | TargetSet | Mapping[str, Any], warmup: float | None = None) -> Evaluation:
    """Measure ``run`` (after ``warmup`` ms; default the set's) against ``targets``.

    The run should be at least the set's ``duration`` long after the warm-up; a shorter one is
    measured as it is (statistics of rare events, like burst rates, are then less certain).
    A set with stimulated statistics runs their pulse protocol on ``env``, which is cleared
    afterwards (module docstring).
    """
    targets = target_set(targets)
    warmup = targets.warmup if warmup is None else _bound("warmup", warmup, 0.0)
    if warmup < 0 or warmup >= run.duration:
        raise ValueError(f"warmup {warmup:g} ms must be >= 0 and shorter than the run ({run.duration:g} ms)")
    measured = Measurement(env, run.slice(warmup, run.duration) if warmup > 0 else run)
    rows = []
    for band in targets.bands:
        value = float(STATISTICS[band.statistic].compute(measured))
        rows.append(Row(band.statistic, value, band, band.contains(value), band.distance(value)))
    return Evaluation(targets, tuple(rows))


def measure(env: Env, run: Run, statistics: Iterable[str] | None = None) -> dict[str, float]:
    """The named statistics (default: every statistic of the run itself, not the stimulated ones) of
    ``run``, ``{name: value}``. Stimulated statistics, when named, pulse ``env`` (module docstring)."""
    if statistics is None:
        names = [name for name, statistic in STATISTICS.items() if not statistic.stimulated]
    else:
        names = [_known_statistic(s) for s in statistics]
    measured = Measurement(env, run)
    return {name: float(STATISTICS[name].compute(measured)) for name in names}
