"""RCSD on NEURON: the two-compartment BRK motoneuron (EXC) and the V1 Renshaw cell (INH).

Geometry, channels and constants follow ``shared/RCSD.md`` sections 1 and 2 exactly; parameter
values come from :mod:`livn.models.rcsd` (the single source). One segment per section. Coupling
(RCSD.md 1.3): each section's ``Ra`` is chosen so that its half-segment resistance is
``1 / (2 (gc/p) A_sec)``, which gives a centre-to-centre conductance ``2 gc (1 - p) A_tot``.

:data:`IMPLEMENTATION` (a :class:`RcsdModel`) is what :mod:`livn_neuron.plugin` registers for
the model ``rcsd``: projections labelled ``hillock`` (or ``dend``/``apical``/``basal``) land on
BRK's dendrite, one-compartment cells take everything on the soma (RCSD.md 2.1); NMDA receptors
use ``RcsdSynNMDA`` (Mg block), the others ``RcsdSyn``; the EXC soma takes only the inhibitory
noise, the EXC dendrite only the excitatory, the INH soma both (RCSD.md 4); spikes are upward
crossings of ``V_threshold`` at ``soma(0.5)``, found by ``RcsdSpikeDetector`` (2 ms dead time, no
reset); initialisation is RCSD.md 1.10 (balancing currents, then ``finitialize(v_init)`` twice).

Defaults: ``make("EI3")``/``make("EI4")`` apply the weights and noise tuned on this backend
(``livn.models.rcsd``: noise g_e0 1 nS, g_i0 5 nS, std half the mean, tau 2.728/10.49 ms;
EXC->EXC AMPA 0.5 / NMDA 0.05, EXC->INH AMPA 0.2 / NMDA 0.02, GABA_A 3 contacts): EI3 fires at
~3 Hz (EXC) and ~8 Hz (INH) over 1 s without runaway, after a ~100 ms transient from v_init.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from livn_neuron.cells import Cell

if TYPE_CHECKING:
    from livn.network import SynapseClass

__all__ = [
    "IMPLEMENTATION",
    "RcsdModel",
    "build_brk",
    "build_cell",
    "build_v1in",
    "coupling_ra",
    "set_balancing_currents",
    "set_ion_defaults",
]


def coupling_ra(diam: float, length: float, area_um2: float, gc_over_p: float) -> float:
    """Ra (ohm cm) so that the half-segment resistance of a section is ``1 / (2 gc_over_p A)``.

    ``diam``, ``length`` in um, ``area_um2`` the section's area in um2, ``gc_over_p`` in S/cm2.
    """
    half_resistance = 1.0 / (2.0 * gc_over_p * area_um2 * 1e-8)  # ohm
    cross_section = math.pi * (diam * 1e-4) ** 2 / 4.0  # cm2
    return half_resistance * cross_section / (length * 1e-4 / 2.0)


def set_ion_defaults(h: Any, constants: Mapping[str, float]) -> None:
    """Temperature and the resting ion concentrations of RCSD.md 1.8 as NEURON globals."""
    h.celsius = constants["celsius"]
    h.nai0_na_ion = constants["nai0"]
    h.nao0_na_ion = constants["nao0"]
    h.ki0_k_ion = constants["ki0"]
    h.ko0_k_ion = constants["ko0"]
    h.cai0_ca_ion = constants["Ca0"]
    h.cao0_ca_ion = constants["Cao"]


def _insert(sec: Any, mechanisms: Iterable[str]) -> None:
    for name in mechanisms:
        sec.insert(name)


def _ca_pool(seg: Any, prefix: str, p: Mapping[str, float], constants: Mapping[str, float]) -> None:
    seg.rcsd_cad.f = p[f"{prefix}_f_Caconc"]
    seg.rcsd_cad.alpha = p[f"{prefix}_alpha_Caconc"]
    seg.rcsd_cad.kca = p[f"{prefix}_kCa_Caconc"]
    seg.rcsd_cad.ca0 = constants["Ca0"]


def _shells(seg: Any, constants: Mapping[str, float], sodium: bool) -> None:
    seg.rcsd_kcon.depth = constants["shell_depth"]
    seg.rcsd_kcon.beta = constants["beta_conc"]
    seg.rcsd_kcon.ki0 = constants["ki0"]
    seg.rcsd_kcon.ko0 = constants["ko0"]
    if sodium:
        seg.rcsd_nacon.depth = constants["shell_depth"]
        seg.rcsd_nacon.beta = constants["beta_conc"]
        seg.rcsd_nacon.nai0 = constants["nai0"]
        seg.rcsd_nacon.nao0 = constants["nao0"]


def _channel_constants(seg: Any, constants: Mapping[str, float]) -> None:
    seg.rcsd_kca.kd = constants["Kd_KCa"]
    seg.rcsd_can.tau_m = constants["tau_mN"]
    seg.rcsd_can.tau_h = constants["tau_hN"]


def build_brk(h: Any, gid: int, p: Mapping[str, float], constants: Mapping[str, float]) -> Cell:
    """The Booth-Rinzel-Kiehn motoneuron (RCSD.md 1): soma and dendrite, ``dend(0)`` on ``soma(1)``."""
    soma = h.Section(name=f"brk{gid}.soma")
    dend = h.Section(name=f"brk{gid}.dend")
    dend.connect(soma(1), 0)
    frac, total, diam = p["pp"], p["Ltotal"], p["global_diam"]
    gc_over_p = p["gc"] * 1e-3 / frac  # mS/cm2 -> S/cm2
    for sec, length in ((soma, frac * total), (dend, (1.0 - frac) * total)):
        sec.nseg = 1
        sec.L = length
        sec.diam = diam
        sec.Ra = coupling_ra(diam, length, math.pi * diam * length, gc_over_p)
    soma.cm = p["global_cm"] * p["cm_ratio"]
    dend.cm = p["global_cm"]

    _insert(soma, ("pas", "rcsd_na", "rcsd_kdr", "rcsd_kca", "rcsd_can", "rcsd_cad", "rcsd_nacon",
                   "rcsd_kcon", "rcsd_ic"))
    _insert(dend, ("pas", "rcsd_kca", "rcsd_can", "rcsd_cal", "rcsd_cad", "rcsd_kcon"))
    s, d = soma(0.5), dend(0.5)
    s.pas.g, s.pas.e = p["soma_g_pas"], p["e_pas"]
    d.pas.g, d.pas.e = p["dend_g_pas"], p["e_pas"]
    s.rcsd_na.gmax = p["soma_gmax_Na"]
    s.rcsd_kdr.gmax = p["soma_gmax_K"]
    s.rcsd_kca.gmax = p["soma_gmax_KCa"]
    s.rcsd_can.gmax = p["soma_gmax_CaN"]
    d.rcsd_kca.gmax = p["dend_gmax_KCa"]
    d.rcsd_can.gmax = p["dend_gmax_CaN"]
    d.rcsd_cal.gmax = p["dend_gmax_CaL"]
    d.rcsd_cal.tau_m = constants["tau_mL"]
    for seg in (s, d):
        _channel_constants(seg, constants)
    _ca_pool(s, "soma", p, constants)
    _ca_pool(d, "dend", p, constants)
    _shells(s, constants, sodium=True)
    _shells(d, constants, sodium=False)
    return Cell(gid, "EXC", {"soma": soma, "dend": dend}, dict(p), float(p["V_threshold"]))


def build_v1in(h: Any, gid: int, p: Mapping[str, float], constants: Mapping[str, float]) -> Cell:
    """The V1 Renshaw interneuron (RCSD.md 2): one soma cylinder with ``L = diam``."""
    soma = h.Section(name=f"v1in{gid}.soma")
    soma.nseg = 1
    soma.L = soma.diam = p["global_diam"]
    soma.cm = p["global_cm"]
    _insert(soma, ("pas", "rcsd_na", "rcsd_kdr", "rcsd_ka", "rcsd_kca", "rcsd_can", "rcsd_cad",
                   "rcsd_nacon", "rcsd_kcon", "rcsd_ic"))
    s = soma(0.5)
    s.pas.g, s.pas.e = p["soma_g_pas"], p["e_pas"]
    s.rcsd_na.gmax = p["soma_gmax_Na"]
    s.rcsd_kdr.gmax = p["soma_gmax_K"]
    s.rcsd_ka.gmax = p["soma_gmax_Ka"]
    s.rcsd_ka.tau_a = constants["tau_aKa"]
    s.rcsd_ka.tau_b = constants["tau_bKa"]
    s.rcsd_kca.gmax = p["soma_gmax_KCa"]
    s.rcsd_can.gmax = p["soma_gmax_CaN"]
    _channel_constants(s, constants)
    _ca_pool(s, "soma", p, constants)
    _shells(s, constants, sodium=True)
    return Cell(gid, "INH", {"soma": soma}, dict(p), float(p["V_threshold"]))


def build_cell(h: Any, gid: int, kind: str, p: Mapping[str, float], constants: Mapping[str, float]) -> Cell:
    """A BRK cell for ``kind="EXC"``, a V1In cell for ``"INH"``."""
    if kind == "EXC":
        return build_brk(h, gid, p, constants)
    if kind == "INH":
        return build_v1in(h, gid, p, constants)
    raise ValueError(f"RCSD has no cell for population kind {kind!r}; use 'EXC' or 'INH'")


def set_balancing_currents(h: Any, cells: Iterable[Cell]) -> None:
    """Set each cell's constant current ``i_c`` (mA/cm2) as RCSD.md 1.10 step 2 defines it.

    Every cell is initialised at its own ``V_rest`` (one ``finitialize`` for all cells, with the
    voltages preset), then ``i_c = -(I_Na + I_K + I_Ca + I_leak)`` of the soma alone.
    """
    cells = list(cells)
    for cell in cells:
        cell.soma(0.5).rcsd_ic.ic = 0.0
        for sec in cell.sections.values():
            sec(0.5).v = cell.params["V_rest"]
    h.finitialize()  # no argument: keep the preset voltages
    for cell in cells:
        seg = cell.soma(0.5)
        v = cell.params["V_rest"]
        leak = seg.pas.g * (v - seg.pas.e)
        seg.rcsd_ic.ic = -(seg.ina + seg.ik + seg.ica + leak)


#: Section labels of projections that mean BRK's dendrite.
_DENDRITE_LABELS = ("dend", "hillock", "apical", "basal")


class RcsdModel:
    """The neuron backend's implementation of RCSD (interface: :class:`livn_neuron.models.NeuronModel`)."""

    #: Initial membrane potential (mV) when the model's constants name no ``v_init`` (RCSD.md 1.10).
    default_v_init = -75.0

    def setup(self, h: Any, constants: Mapping[str, float]) -> None:
        """Temperature and resting ion concentrations (RCSD.md 1.8)."""
        set_ion_defaults(h, constants)

    def build_cell(self, h: Any, gid: int, kind: str, params: Mapping[str, float],
                   constants: Mapping[str, float]) -> Cell:
        """A BRK cell for ``EXC``, a V1In cell for ``INH``."""
        return build_cell(h, gid, kind, params, constants)

    def section_for(self, cell: Cell, label: str) -> Any:
        """BRK's dendrite for ``hillock``/``dend``/``apical``/``basal``; the soma for ``soma`` and on V1In."""
        if label == "soma":
            return cell.soma
        if label in _DENDRITE_LABELS:
            return cell.sections.get("dend", cell.soma)
        raise KeyError(f"unknown section {label!r}; RCSD cells have 'soma' and 'hillock' (= 'dend')")

    def synapse(self, h: Any, cell: Cell, synapse_class: SynapseClass, constants: Mapping[str, float]) -> Any:
        """``RcsdSynNMDA`` (Mg block from the constants ``nmda_*``) for NMDA, else ``RcsdSyn``."""
        segment = self.section_for(cell, synapse_class.section)(0.5)
        if not synapse_class.nmda:
            return h.RcsdSyn(segment)
        syn = h.RcsdSynNMDA(segment)
        syn.gamma, syn.mg, syn.kd = constants["nmda_gamma"], constants["nmda_mg"], constants["nmda_kd"]
        return syn

    def noise_components(self, kind: str, site: str) -> tuple[bool, bool]:
        """RCSD.md 4: the EXC soma takes only inhibitory noise, the EXC dendrite only excitatory."""
        return not (kind == "EXC" and site == "soma"), not (kind == "EXC" and site == "dend")

    def spike_source(self, h: Any, cell: Cell, constants: Mapping[str, float]) -> Any:
        """``RcsdSpikeDetector`` at ``soma(0.5)``: upward crossings of the threshold, with a dead time."""
        detector = h.RcsdSpikeDetector(cell.soma(0.5))
        detector.vthresh = cell.threshold
        detector.refractory = constants["refractory"]
        cell.objects.append(detector)
        return detector

    def balance(self, h: Any, cells: Iterable[Cell]) -> None:
        """The constant current ``i_c`` of every cell (RCSD.md 1.10 step 2)."""
        set_balancing_currents(h, cells)

    def initialize(self, h: Any, constants: Mapping[str, float]) -> None:
        """``finitialize(v_init)`` twice, so that the Ca pools' ``i_rest`` is the Ca current at v_init."""
        v_init = float(constants.get("v_init", self.default_v_init))
        h.finitialize(v_init)
        h.finitialize(v_init)


#: The one instance the plugin registers.
IMPLEMENTATION = RcsdModel()
