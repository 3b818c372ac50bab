"""Synthesis figures for the Threefry unit and the mask sampler alone (not the core).

For each design: Yosys ``synth_xilinx -family xc7`` (resources on the xc7z020, counted as
:func:`evoconn.hw.synth.count_resources` counts them) and Yosys ``synth_ecp5`` + ``nextpnr-ecp5``
on an LFE5U-85F (speed 6, 100 MHz target, seed 1: the settings of :mod:`evoconn.hw.ecp5`) for Fmax.

So that a design's ports do not become hundreds of package pins, each is wrapped in a shell
(:class:`_Shell`): its inputs come from a shift register fed by one pin, its outputs land in
registers XOR-reduced into one pin. The inputs are registers and the outputs are registered, so
the Fmax that nextpnr reports is that of the register-to-register paths through the design (the
shell's XOR tree included); its resources include the shell's flip-flops (one per input and
output bit), stated per row. ``sampler_n256_u4_logic`` takes rho_data from the shell; ``sampler_n256_u*``
hold the rho memory (rho_q, RHO_BITS a connection, written through a port the shell feeds), so the
block RAM of rho would be in their figures (those runs did not finish here: synth_xilinx ran 13
min on the 71,936-deep memory and was stopped).

    .venv/bin/python bench/bench_sampler_synth.py --out bench/results/sampler_synth.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from amaranth.back import verilog
from amaranth.hdl import Elaboratable, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory

from evoconn.hw.ecp5 import summarize_report
from evoconn.hw.sampler import MaskSampler, fill_cycles
from evoconn.hw.synth import _cells_from_stat, count_resources
from evoconn.hw.threefry import Threefry2x32
from evoconn.hw.toolchain import find_tool
from evoconn.spec import Spec

TOP = "shell"


class _Shell(Elaboratable):
    """Inputs of ``inner`` from a serial shift register, outputs registered and XOR-reduced."""

    def __init__(self, inner: wiring.Component, rho_depth: int = 0, rho_bits: int = 0):
        self.inner, self.rho_depth, self.rho_bits = inner, rho_depth, rho_bits
        self.sin, self.sout = Signal(), Signal()

    def elaborate(self, platform):
        m = Module()
        m.submodules.inner = inner = self.inner
        ins, outs = [], []
        for name, member in inner.signature.members.items():
            sig = getattr(inner, name)
            (ins if member.flow == wiring.In else outs).append((name, sig))
        if self.rho_depth:  # the rho memory: read by the sampler, written from the shift register
            ins = [(n, s) for n, s in ins if n != "rho_data"]
            mem = Memory(shape=self.rho_bits, depth=self.rho_depth, init=[])
            m.submodules.rho = mem
            rp, wp = mem.read_port(), mem.write_port()
            waddr, wdata, wen = Signal(range(self.rho_depth)), Signal(self.rho_bits), Signal()
            m.d.comb += [rp.addr.eq(inner.rho_addr), inner.rho_data.eq(rp.data),
                         wp.addr.eq(waddr), wp.data.eq(wdata), wp.en.eq(wen)]
            ins += [("waddr", waddr), ("wdata", wdata), ("wen", wen)]
        width = sum(len(s) for _, s in ins)
        chain = Signal(width)
        m.d.sync += chain.eq((chain << 1 | self.sin)[:width])
        pos = 0
        for _, s in ins:
            m.d.comb += s.eq(chain[pos:pos + len(s)])
            pos += len(s)
        regs = []
        for _, s in outs:
            r = Signal(len(s))
            m.d.sync += r.eq(s)
            regs.append(r)
        m.d.sync += self.sout.eq(_xor_all(regs))
        return m


def _xor_all(regs):
    acc = regs[0].xor()
    for r in regs[1:]:
        acc = acc ^ r.xor()
    return acc


def _designs():
    yield "threefry_u1", "Threefry2x32(unroll=1)", lambda: _Shell(Threefry2x32(1)), {"words_per_cycle": "2/21"}
    yield "threefry_u2", "Threefry2x32(unroll=2)", lambda: _Shell(Threefry2x32(2)), {"words_per_cycle": "2/11"}
    yield "threefry_u4", "Threefry2x32(unroll=4)", lambda: _Shell(Threefry2x32(4)), {"words_per_cycle": "2/6"}
    spec = Spec(n_neurons=256)  # hopper
    yield ("sampler_n256_u4_logic", "MaskSampler(hopper N=256, unroll=4), rho_data from the shell (no rho memory)",
           lambda: _Shell(MaskSampler(spec, 4)), {"fill_cycles_n256": fill_cycles(spec, 4)})
    for u in (1, 4):
        def make(u=u):
            s = MaskSampler(spec, u)
            return _Shell(s, s.layout["depth"], s.bits)
        yield (f"sampler_n256_u{u}", f"MaskSampler(hopper N=256, unroll={u}) + rho memory", make,
               {"fill_cycles_n256": fill_cycles(spec, u)})


def _run(design, folder: Path, timeout: float) -> dict:
    text = verilog.convert(design, name=TOP, ports=[design.sin, design.sout])
    (folder / "d.v").write_text(text)
    yosys, pnr = find_tool("yosys"), find_tool("nextpnr-ecp5")
    (folder / "x.ys").write_text(f"read_verilog d.v\nsynth_xilinx -family xc7 -top {TOP} -flatten\n"
                                 "tee -q -o xstat.json stat -json\n")
    t = {"xc7": yosys.run(["-q", "-l", "x.log", "x.ys"], folder, folder / "x.out", timeout)}
    xc7 = count_resources(_cells_from_stat(json.loads((folder / "xstat.json").read_text()), TOP))
    (folder / "e.ys").write_text(f"read_verilog d.v\nsynth_ecp5 -top {TOP} -json e.json\n")
    t["ecp5_synth"] = yosys.run(["-q", "-l", "e.log", "e.ys"], folder, folder / "e.out", timeout)
    t["ecp5_pnr"] = pnr.run(["--85k", "--package", "CABGA381", "--speed", "6", "--json", "e.json",
                             "--freq", "100", "--seed", "1", "--timing-allow-fail", "--report", "pnr.json",
                             "--log", "pnr.log", "-q"], folder, folder / "pnr.out", timeout)
    ecp5 = summarize_report(json.loads((folder / "pnr.json").read_text()), 100.0)
    return {"xc7z020": {k: v["count"] for k, v in xc7["resources"].items()} | {"detail": xc7["detail"]},
            "ecp5": {"fmax_mhz": {k: v["achieved_mhz"] for k, v in ecp5["fmax"].items()},
                     "utilization": {k: v["used"] for k, v in ecp5["utilization"].items()},
                     "critical_path": {k: v for k, v in ecp5["critical_paths"][0].items() if k != "nets"}
                     if ecp5["critical_paths"] else None},
            "seconds": {k: round(v, 1) for k, v in t.items()},
            "tools": {"yosys": yosys.version, "nextpnr-ecp5": pnr.version}}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--only", nargs="*", help="design names to run (default: all)")
    ap.add_argument("--timeout", type=float, default=900)
    args = ap.parse_args(argv)
    results = json.loads(args.out.read_text()) if args.out.exists() else {}
    for name, what, make, extra in _designs():
        if args.only and name not in args.only:
            continue
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.monotonic()
            r = _run(make(), Path(tmp), args.timeout)
        results[name] = {"design": what, **extra, **r}
        print(f"{name}: xc7 {r['xc7z020']['lut']} LUT {r['xc7z020']['ff']} FF {r['xc7z020']['bram36']} BRAM36; "
              f"ECP5 Fmax {r['ecp5']['fmax_mhz']} ({time.monotonic() - t0:.0f} s)", flush=True)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
