"""A generated Vivado project that builds the PYNQ-Z2 overlay: Zynq PS + AXI + the core.

``vivado_project(spec, lanes, ...)`` writes one folder::

    core.v            the exported core (module evoconn_core), mask memories marked ram_style "block"
    evoconn_axil.v    a thin wrapper: the core's s_axil_* port as an AXI4-Lite slave interface S_AXI
                      (X_INTERFACE_INFO attributes), clk as its clock, rst (active high) as its reset
    build.tcl         the whole build: project, block design, synthesis, implementation, bitstream,
                      .hwh export; `vivado -mode batch -source build.tcl` in the folder runs it
    manifest.json     base_manifest(spec, "bitstream", lanes, base_address, clock_mhz, tools, ...)

and, once Vivado has run, ``<name>.bit`` and ``<name>.hwh`` (same base name: PYNQ's ``Overlay``
finds the .hwh beside the .bit) plus ``timing.rpt`` and ``utilization.rpt``.

The block design: ``processing_system7`` (the PYNQ-Z2 board preset where Vivado has the board
files, else explicit settings for the board's clocks and DDR), M_AXI_GP0 -> ``smartconnect`` (or
``axi_interconnect``) -> the core, FCLK_CLK0 at ``clock_mhz`` clocking everything, FCLK_RESET0_N ->
``proc_sys_reset`` whose ``peripheral_reset`` (active high, synchronous) is the core's ``rst``, and
the core's register map at ``base_address`` with range ``RegisterMap.size`` rounded up to 4 KiB.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from evoconn import ip
from evoconn.artifact import atomic_write_text, base_manifest
from evoconn.spec import Spec

from .axil import AXIL_PORTS
from .core import MODULE_NAME
from .synth import _sha, design_verilog
from .toolchain import cache_key

__all__ = ["MEASURED_ECP5_FMAX_MHZ", "PYNQ_CLOCK_MARGIN", "PYNQ_Z2", "VivadoMissing", "address_range", "build_tcl",
           "default_clock_mhz", "vivado_project", "wrapper_verilog"]

WRAPPER = ip.TOP

#: The board: part, board-file pattern, and PS7 settings used when the board files are absent.
PYNQ_Z2: dict[str, Any] = {
    "part": "xc7z020clg400-1",
    "board_part_glob": "*pynq-z2*",
    # The PYNQ-Z2 (TUL): 50 MHz PS crystal, 512 MiB DDR3 (one MT41K256M16 RE-125, 16-bit bus),
    # bank 0 at 3.3 V, bank 1 at 1.8 V, UART0 on MIO 14..15, SD0 on MIO 40..45. The PS itself is
    # set up by the PYNQ boot image at run time; these values make the .hwh describe the board.
    "ps7_fallback": {
        "PCW_CRYSTAL_PERIPHERAL_FREQMHZ": "50",
        "PCW_APU_PERIPHERAL_FREQMHZ": "650",
        "PCW_PRESET_BANK0_VOLTAGE": "LVCMOS 3.3V",
        "PCW_PRESET_BANK1_VOLTAGE": "LVCMOS 1.8V",
        "PCW_UIPARAM_DDR_PARTNO": "MT41K256M16 RE-125",
        "PCW_UIPARAM_DDR_BUS_WIDTH": "16 Bit",
        "PCW_UART0_PERIPHERAL_ENABLE": "1",
        "PCW_UART0_UART0_IO": "MIO 14 .. 15",
        "PCW_SD0_PERIPHERAL_ENABLE": "1",
        "PCW_SD0_SD0_IO": "MIO 40 .. 45",
    },
}

#: Vivado's smallest address range for an AXI slave segment.
MIN_RANGE = 4096


#: ECP5 LFE5U-85F (speed 6) Fmax after place and route of this core at lanes 16, by N, as measured
#: by ``evoconn hw bitstream --target ecp5`` and committed in tests/synth/baselines/ecp5_n*_l16.json
#: (tests/synth/test_flows_unit.py checks that these equal the baselines).
#: Both are core v2's after session 6's Fmax changes (seed 1, bench/results/core_v2_synth.md): N = 64
#: at 8b524e0; N = 256 at 77a6bab, the commit before, whose only difference (stage 3's compare) is
#: not on N = 256's critical path (the spike search into the MASK_H address).
MEASURED_ECP5_FMAX_MHZ: dict[int, float] = {64: 63.03, 256: 44.32}

#: The PYNQ flow's default clock is this share of the measured ECP5 Fmax: the Z-7020 (-1) fabric is
#: not slower than the ECP5's (speed 6), so 80 % leaves room for Vivado's different placement, the
#: AXI interconnect in front of the core and FCLK_CLK0 landing on the nearest frequency the PS's
#: dividers make. It has not been checked with Vivado here (there is none).
PYNQ_CLOCK_MARGIN = 0.8


def default_clock_mhz(spec: Spec) -> float:
    """The PYNQ flow's default clock for ``spec``: :data:`PYNQ_CLOCK_MARGIN` x the measured ECP5 Fmax of
    the smallest measured N at or above ``spec.n_neurons`` (a larger core is not faster), or of the
    largest measured N beyond them; rounded down to whole MHz."""
    sizes = sorted(MEASURED_ECP5_FMAX_MHZ)
    ref = next((n for n in sizes if n >= spec.n_neurons), sizes[-1])
    return float(math.floor(PYNQ_CLOCK_MARGIN * MEASURED_ECP5_FMAX_MHZ[ref]))


class VivadoMissing(RuntimeError):
    """The project was written but ``vivado`` is not on PATH to build it."""


def address_range(spec: Spec, lanes: int) -> int:
    """The core's address range in the block design: ``RegisterMap.size``, at least 4 KiB."""
    return max(MIN_RANGE, spec.register_map(lanes).size)


def wrapper_verilog(addr_width: int, bd_addr_width: int) -> str:
    """``evoconn_axil``: the core with its AXI4-Lite port declared as an interface for Vivado.

    ``bd_addr_width`` (at least 12, for the 4 KiB minimum range) is the slave's address width in
    the block design; the core decodes the low ``addr_width`` bits.
    """
    lines = [
        "// Generated by evoconn.hw.vivado: the core's AXI4-Lite port as a Vivado interface.",
        f"module {WRAPPER} (",
        '  (* X_INTERFACE_INFO = "xilinx.com:signal:clock:1.0 clk CLK" *)',
        '  (* X_INTERFACE_PARAMETER = "ASSOCIATED_BUSIF S_AXI, ASSOCIATED_RESET rst" *)',
        "  input wire clk,",
        '  (* X_INTERFACE_INFO = "xilinx.com:signal:reset:1.0 rst RST" *)',
        '  (* X_INTERFACE_PARAMETER = "POLARITY ACTIVE_HIGH" *)',
        "  input wire rst,",
    ]
    ports = []
    for name, direction, width in AXIL_PORTS:  # the S_AXI interface: ip.BUS_INTERFACE
        w = bd_addr_width if width is None else width
        rng = f"[{w - 1}:0] " if w > 1 else ""
        attr = f'(* X_INTERFACE_INFO = "xilinx.com:interface:aximm:1.0 S_AXI {name.upper()}" *)'
        if name == "awaddr":
            attr += (f' (* X_INTERFACE_PARAMETER = "PROTOCOL AXI4LITE, DATA_WIDTH 32, ADDR_WIDTH {bd_addr_width}, '
                     'MAX_BURST_LENGTH 1, NUM_READ_OUTSTANDING 1, NUM_WRITE_OUTSTANDING 1" *)')
        kind = "input" if direction == "in" else "output"
        ports.append(f"  {attr}\n  {kind} wire {rng}s_axi_{name}")
    lines.append(",\n".join(ports))
    lines.append(");")
    conns = ["    .clk(clk)", "    .rst(rst)"]
    for name, _, width in AXIL_PORTS:
        src = f"s_axi_{name}[{addr_width - 1}:0]" if width is None else f"s_axi_{name}"
        conns.append(f"    .s_axil_{name}({src})")
    lines.append(f"  {MODULE_NAME} core (\n" + ",\n".join(conns) + "\n  );")
    lines.append("endmodule")
    return "\n".join(lines) + "\n"


def _tcl_dict(d: dict[str, str]) -> str:
    return " ".join(f"CONFIG.{k} {{{v}}}" for k, v in d.items())


def build_tcl(*, name: str, spec: Spec, lanes: int, clock_mhz: float, base_address: int, range_bytes: int,
              interconnect: str = "smartconnect", jobs: int = 2, board: dict[str, Any] = PYNQ_Z2) -> str:
    """The TCL that builds the overlay in batch mode from the folder it lies in."""
    if interconnect == "smartconnect":
        ic = (f"set ic [create_bd_cell -type ip -vlnv xilinx.com:ip:smartconnect:1.0 {ip.IC_CELL}]\n"
              f"set_property -dict [list CONFIG.NUM_SI {{1}} CONFIG.NUM_MI {{1}}] $ic\n"
              f"connect_bd_net [get_bd_pins {ip.PS_CELL}/FCLK_CLK0] [get_bd_pins {ip.IC_CELL}/aclk]\n"
              f"connect_bd_net [get_bd_pins {ip.RESET_CELL}/interconnect_aresetn] [get_bd_pins {ip.IC_CELL}/aresetn]\n")
    elif interconnect == "axi_interconnect":
        ic = (f"set ic [create_bd_cell -type ip -vlnv xilinx.com:ip:axi_interconnect:2.1 {ip.IC_CELL}]\n"
              f"set_property -dict [list CONFIG.NUM_SI {{1}} CONFIG.NUM_MI {{1}}] $ic\n"
              f"connect_bd_net [get_bd_pins {ip.PS_CELL}/FCLK_CLK0] [get_bd_pins {ip.IC_CELL}/ACLK] "
              f"[get_bd_pins {ip.IC_CELL}/S00_ACLK] "
              f"[get_bd_pins {ip.IC_CELL}/M00_ACLK]\n"
              f"connect_bd_net [get_bd_pins {ip.RESET_CELL}/interconnect_aresetn] [get_bd_pins {ip.IC_CELL}/ARESETN]\n"
              f"connect_bd_net [get_bd_pins {ip.RESET_CELL}/peripheral_aresetn] [get_bd_pins {ip.IC_CELL}/S00_ARESETN] "
              f"[get_bd_pins {ip.IC_CELL}/M00_ARESETN]\n")
    else:
        raise ValueError(f"interconnect must be 'smartconnect' or 'axi_interconnect', got {interconnect!r}")
    range_k = f"{range_bytes // 1024}K"
    return f"""\
# Generated by `evoconn hw bitstream --board pynq-z2`: the PYNQ-Z2 overlay for the evoconn core.
# spec {spec.hash}  N={spec.n_neurons} d={spec.obs_dim} a={spec.act_dim} K={spec.substeps}  lanes={lanes}
# Run in this folder:  vivado -mode batch -nojournal -source build.tcl
# Writes {name}.bit and {name}.hwh (PYNQ overlay: same base name), timing.rpt, utilization.rpt.
set name {name}
set here [file normalize [file dirname [info script]]]
set part {board["part"]}
set clock_mhz {clock_mhz:g}
set base_address 0x{base_address:08X}
set range {range_k}

create_project -force ${{name}}_prj [file join $here vivado] -part $part
set board_part [lindex [get_board_parts -quiet -latest_file_version {{{board["board_part_glob"]}}}] 0]
if {{$board_part ne ""}} {{ set_property board_part $board_part [current_project] }}
add_files -norecurse [list [file join $here core.v] [file join $here {WRAPPER}.v]]
set_property top {WRAPPER} [get_filesets sources_1]
update_compile_order -fileset sources_1

# --- block design -----------------------------------------------------------------------------
create_bd_design $name
set ps [create_bd_cell -type ip -vlnv xilinx.com:ip:processing_system7:5.5 {ip.PS_CELL}]
if {{$board_part ne ""}} {{
  apply_bd_automation -rule xilinx.com:bd_rule:processing_system7 \\
    -config {{make_external "FIXED_IO, DDR" apply_board_preset "1" Master "Disable" Slave "Disable"}} $ps
}} else {{
  puts "evoconn: no PYNQ-Z2 board files in this Vivado; using explicit PS7 settings"
  set_property -dict [list {_tcl_dict(board["ps7_fallback"])}] $ps
  make_bd_intf_pins_external [get_bd_intf_pins {ip.PS_CELL}/DDR] [get_bd_intf_pins {ip.PS_CELL}/FIXED_IO]
}}
set_property -dict [list CONFIG.PCW_USE_M_AXI_GP0 {{1}} CONFIG.PCW_EN_CLK0_PORT {{1}} CONFIG.PCW_EN_RST0_PORT {{1}} \\
  CONFIG.PCW_FPGA0_PERIPHERAL_FREQMHZ $clock_mhz] $ps
set rst [create_bd_cell -type ip -vlnv xilinx.com:ip:proc_sys_reset:5.0 {ip.RESET_CELL}]
# the core as a packaged IP (Vivado's own packager, from the wrapper's interface attributes),
# instantiated from the IP catalog by its VLNV; the cell's name is what PYNQ keys ip_dict by
set ip_dir [file join $here ip]
ipx::package_project -root_dir $ip_dir -vendor {ip.VENDOR} -library {ip.LIBRARY} -taxonomy /UserIP \\
  -import_files -set_current true
set_property name {ip.NAME} [ipx::current_core]
set_property version {ip.VERSION} [ipx::current_core]
set_property display_name {{evoconn core (N={spec.n_neurons}, lanes {lanes})}} [ipx::current_core]
ipx::create_xgui_files [ipx::current_core]
ipx::update_checksums [ipx::current_core]
ipx::save_core [ipx::current_core]
ipx::unload_core [ipx::current_core]
set_property ip_repo_paths [list $ip_dir] [current_project]
update_ip_catalog -rebuild
set core [create_bd_cell -type ip -vlnv {ip.VLNV} {ip.CELL}]
{ic}
connect_bd_net [get_bd_pins {ip.PS_CELL}/FCLK_CLK0] [get_bd_pins {ip.PS_CELL}/M_AXI_GP0_ACLK] \\
  [get_bd_pins {ip.RESET_CELL}/slowest_sync_clk] \\
  [get_bd_pins {ip.CELL}/{ip.CLOCK_PORT}]
connect_bd_net [get_bd_pins {ip.PS_CELL}/FCLK_RESET0_N] [get_bd_pins {ip.RESET_CELL}/ext_reset_in]
connect_bd_net [get_bd_pins {ip.RESET_CELL}/peripheral_reset] [get_bd_pins {ip.CELL}/{ip.RESET_PORT}]
connect_bd_intf_net [get_bd_intf_pins {ip.PS_CELL}/M_AXI_GP0] [get_bd_intf_pins {ip.IC_CELL}/S00_AXI]
connect_bd_intf_net [get_bd_intf_pins {ip.IC_CELL}/M00_AXI] [get_bd_intf_pins {ip.CELL}/{ip.BUS_INTERFACE}]
assign_bd_address -target_address_space [get_bd_addr_spaces {ip.PS_CELL}/Data] \\
  [get_bd_addr_segs {ip.CELL}/{ip.BUS_INTERFACE}/*] \\
  -offset $base_address -range $range -force
validate_bd_design
save_bd_design

set bd_file [get_files $name.bd]
generate_target all $bd_file
set wrapper [make_wrapper -files $bd_file -top]
add_files -norecurse $wrapper
set_property top ${{name}}_wrapper [get_filesets sources_1]
update_compile_order -fileset sources_1

# --- synthesis, implementation, bitstream ---------------------------------------------------------
launch_runs synth_1 -jobs {jobs}
wait_on_run synth_1
if {{[get_property PROGRESS [get_runs synth_1]] ne "100%"}} {{ error "evoconn: synthesis failed" }}
launch_runs impl_1 -to_step write_bitstream -jobs {jobs}
wait_on_run impl_1
if {{[get_property PROGRESS [get_runs impl_1]] ne "100%"}} {{ error "evoconn: implementation failed" }}
open_run impl_1
report_timing_summary -file [file join $here timing.rpt]
report_utilization -file [file join $here utilization.rpt]
set wns [get_property STATS.WNS [get_runs impl_1]]
set whs [get_property STATS.WHS [get_runs impl_1]]
if {{$wns < 0}} {{ error "evoconn: setup timing not met at $clock_mhz MHz (WNS $wns ns); see timing.rpt" }}
if {{$whs < 0}} {{ error "evoconn: hold timing not met at $clock_mhz MHz (WHS $whs ns); see timing.rpt" }}

# --- products: NAME.bit and NAME.hwh side by side --------------------------------------------------
file copy -force [lindex [glob [file join [get_property DIRECTORY [get_runs impl_1]] *.bit]] 0] \\
  [file join $here $name.bit]
set hwh [lindex [glob -nocomplain [file join $here vivado ${{name}}_prj.gen sources_1 bd $name hw_handoff $name.hwh] \\
  [file join $here vivado ${{name}}_prj.srcs sources_1 bd $name hw_handoff $name.hwh]] 0]
if {{$hwh eq ""}} {{ error "evoconn: no $name.hwh was generated" }}
file copy -force $hwh [file join $here $name.hwh]
puts "evoconn: wrote [file join $here $name.bit] and [file join $here $name.hwh] (WNS $wns ns, WHS $whs ns)"
"""


def _vivado_version(vivado: str) -> str:
    out = subprocess.run([vivado, "-version"], capture_output=True, text=True, timeout=300).stdout
    return next((ln.strip() for ln in out.splitlines() if ln.strip()), "unknown")


def vivado_project(spec: Spec, lanes: int, *, name: str = "evoconn", clock_mhz: float | None = None,
                   base_address: int = 0x4000_0000, interconnect: str = "smartconnect", jobs: int = 2,
                   build_root: str | Path = "build/hw", run: bool = True,
                   artifact: str | Path | None = None) -> tuple[Path, dict[str, Any]]:
    """Write the Vivado project and, where ``vivado`` is on PATH (and ``run``), build it.

    Returns ``(folder, manifest)``. The folder is ``<build_root>/pynq-z2-<key[:16]>``, the key a hash
    of the design, the generated files, the options and the Vivado version; a folder whose manifest
    has the key and whose ``.bit`` and ``.hwh`` exist is returned without running Vivado again.
    Raises :class:`VivadoMissing` (after writing the project) when Vivado is absent.
    ``artifact``: the trained artifact the spec was taken from (recorded in the manifest).
    """
    if clock_mhz is None:
        clock_mhz = default_clock_mhz(spec)
    if not name.isidentifier():
        raise ValueError(f"name must be a plain identifier (it names the .bit, .hwh and block design), got {name!r}")
    if base_address % MIN_RANGE:
        raise ValueError(f"base_address 0x{base_address:x} must be aligned to 4 KiB")
    text, export_man = design_verilog(spec, lanes, "block")
    aw = export_man["addr_width"]
    rng = address_range(spec, lanes)
    if base_address % rng:
        raise ValueError(f"base_address 0x{base_address:x} must be aligned to the range 0x{rng:x}")
    bd_aw = (rng - 1).bit_length()
    wrapper = wrapper_verilog(aw, bd_aw)
    tcl = build_tcl(name=name, spec=spec, lanes=lanes, clock_mhz=clock_mhz, base_address=base_address,
                    range_bytes=rng, interconnect=interconnect, jobs=jobs)
    vivado = shutil.which("vivado") if run else None
    tools = {"vivado": _vivado_version(vivado) if vivado else None}
    options = {"flow": "vivado", "board": "pynq-z2", "lanes": lanes, "clock_mhz": clock_mhz,
               "base_address": base_address, "interconnect": interconnect, "name": name}
    key = cache_key(text + wrapper + tcl, options, tools)
    folder = Path(build_root) / f"pynq-z2-{key[:16]}"
    bit, hwh = folder / f"{name}.bit", folder / f"{name}.hwh"
    man_path = folder / "manifest.json"
    if vivado and man_path.exists() and bit.exists() and hwh.exists():
        man = json.loads(man_path.read_text())
        if man.get("cache_key") == key and man.get("status") == "built":
            return folder, man
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "core.v").write_text(text)
    (folder / f"{WRAPPER}.v").write_text(wrapper)
    (folder / "build.tcl").write_text(tcl)
    man = base_manifest(
        spec, "bitstream", lanes=lanes, base_address=base_address, clock_mhz=clock_mhz, tools=tools,
        board="pynq-z2", part=PYNQ_Z2["part"], address_range=rng, register_map_size=spec.register_map(lanes).size,
        addr_width=aw, bitstream=bit.name, hwh=hwh.name, options=options, design_hash=_sha(text),
        cache_key=key, status="project", vlnv=ip.VLNV, cell=ip.CELL,
        **({"artifact": str(artifact)} if artifact is not None else {}),
    )
    atomic_write_text(man_path, json.dumps(man, indent=1, sort_keys=True) + "\n")
    if not vivado:
        raise VivadoMissing(
            f"vivado is not on PATH; the complete project is in {folder}. Copy that folder to a machine with "
            f"Vivado (2020.2 or newer, Zynq-7000 support) and run `vivado -mode batch -nojournal -source build.tcl` "
            f"inside it: it writes {bit.name} and {hwh.name} beside manifest.json; copy all three to the board."
        )
    with open(folder / "vivado.log", "w") as log:
        proc = subprocess.run([vivado, "-mode", "batch", "-nojournal", "-source", "build.tcl"], cwd=folder,
                              stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                              env={**os.environ})
    if proc.returncode != 0 or not (bit.exists() and hwh.exists()):
        raise RuntimeError(f"vivado failed (exit {proc.returncode}); see {folder / 'vivado.log'}")
    man["status"] = "built"
    atomic_write_text(man_path, json.dumps(man, indent=1, sort_keys=True) + "\n")
    return folder, man
