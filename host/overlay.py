"""The board: load a PYNQ overlay, find the evoconn core in it, and open it as a Core.

``open_board(path)`` loads ``path`` (a ``.bit`` with its ``.hwh`` beside it) with
``pynq.Overlay``, which programs the PL and parses the hardware handoff; the core is the
``ip_dict`` entry whose VLNV is the core's (:data:`evoconn.ip.VLNV`), and its attribute on the
overlay is our :class:`~evoconn.host.driver.EvoconnCoreDriver`. Every failure inside pynq (no
device, a bad ``.hwh``, no IP of our type, an MMIO error) becomes a :class:`BoardError` with one
line that says what to do.

numpy and the standard library at import; ``pynq`` is imported when a board is opened.
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path
from typing import Any

import numpy as np

from evoconn import ip as ipid
from evoconn.artifact import load_manifest
from evoconn.host.bus import MMIOBus, import_pynq
from evoconn.host.core import BusError, CoreError, RegisterCore
from evoconn.spec import Spec

__all__ = ["Board", "BoardBus", "BoardError", "bitstream_manifest", "board_clock_mhz", "check_overlay_files",
           "find_core", "open_board", "open_core"]


class BoardError(CoreError):
    """The overlay or the board cannot be used (one line, no traceback at the CLI)."""


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def check_overlay_files(path: str | Path) -> tuple[Path, Path]:
    """The .bit and its .hwh, or a :class:`BoardError` naming the missing file."""
    bit = Path(path)
    if not bit.is_file():
        raise BoardError(f"no overlay at {bit}: build one with the Vivado flow, or copy the .bit "
                         "and its .hwh to the board")
    hwh = bit.with_suffix(".hwh")
    if not hwh.is_file():
        raise BoardError(f"{bit} has no {hwh.name} beside it: pynq reads the address map from the "
                         "Vivado hardware handoff file; copy it from the build folder")
    return bit, hwh


class BoardBus(MMIOBus):
    """:class:`~evoconn.host.bus.MMIOBus` whose pynq errors become :class:`BusError` with the address.

    (An AXI error response on the Zynq is a SIGBUS that no Python code can catch; what pynq itself
    raises, e.g. an offset outside the mapping, is caught here.)
    """

    def read(self, addr: int) -> int:
        try:
            return super().read(addr)
        except CoreError:
            raise
        except Exception as e:
            raise BusError(f"pynq MMIO read at 0x{addr:x} failed: {_one_line(e)}", addr, "read") from None

    def write(self, addr: int, value: int) -> None:
        try:
            super().write(addr, value)
        except CoreError:
            raise
        except Exception as e:
            raise BusError(f"pynq MMIO write at 0x{addr:x} failed: {_one_line(e)}", addr, "write") from None

    def read_block(self, addr: int, n: int) -> np.ndarray:
        try:
            return super().read_block(addr, n)
        except CoreError:
            raise
        except Exception as e:
            raise BusError(f"pynq MMIO block read of {n} words at 0x{addr:x} failed: {_one_line(e)}", addr,
                           "read") from None

    def write_block(self, addr: int, words: np.ndarray) -> None:
        try:
            super().write_block(addr, words)
        except CoreError:
            raise
        except Exception as e:
            raise BusError(f"pynq MMIO block write at 0x{addr:x} failed: {_one_line(e)}", addr,
                           "write") from None


@dataclasses.dataclass
class Board:
    """A loaded overlay and the evoconn core in it."""

    overlay: Any
    name: str  #: the core's ``ip_dict`` key (its block-design cell path)
    driver: Any  #: the overlay's attribute for the core: an EvoconnCoreDriver
    bit: Path

    @property
    def phys_addr(self) -> int:
        return int(self.overlay.ip_dict[self.name]["phys_addr"])

    @property
    def addr_range(self) -> int:
        return int(self.overlay.ip_dict[self.name]["addr_range"])

    def bus(self) -> BoardBus:
        return self.driver.bus()


def find_core(overlay: Any, ip: str | None = None) -> str:
    """The ``ip_dict`` key of the evoconn core (the one entry of our VLNV, or ``ip``)."""
    ips = dict(overlay.ip_dict)
    ours = (ipid.VLNV, ipid.MODULE_REF_VLNV)
    cores = sorted(k for k, d in ips.items() if d.get("type") in ours)
    if ip is not None:
        if ip not in ips:
            raise BoardError(f"no IP {ip!r} in the overlay; it has {sorted(ips)}")
        if ips[ip].get("type") not in ours:
            raise BoardError(f"IP {ip!r} is a {ips[ip].get('type')}, not an evoconn core ({ipid.VLNV}); "
                             f"evoconn cores here: {cores or 'none'}")
        return ip
    if not cores:
        kinds = ", ".join(f"{k} ({d.get('type')})" for k, d in sorted(ips.items())) or "none"
        raise BoardError(f"the overlay has no evoconn core (an IP of type {ipid.VLNV}); its IP: {kinds}. "
                         "Build the overlay with `evoconn hw bitstream --board pynq-z2`")
    if len(cores) > 1:
        raise BoardError(f"the overlay has {len(cores)} evoconn cores {cores}; pass --ip NAME")
    return cores[0]


def _zynq7_clock_rates(overlay: Any) -> None:
    """Fill an enabled PL clock's missing rate from the Zynq-7000 PS's own parameter.

    pynq 4.0's metadata parser reads a PL clock's rate from the Zynq UltraScale+ parameter
    (``PSU__CRL_APB__PL<i>_REF_CTRL__ACT_FREQMHZ``), which a Zynq-7000 ``.hwh`` does not have, so
    ``clock_dict[i]["frequency"]`` is None and ``Overlay.download`` fails dividing by it. Vivado
    writes the achieved rate of FCLK<i> as ``PCW_ACT_FPGA<i>_PERIPHERAL_FREQMHZ``; use it.
    """
    params = next((d.get("parameters", {}) for d in overlay.ip_dict.values()
                   if str(d.get("type", "")).startswith("xilinx.com:ip:processing_system7:")), None)
    if not params:
        return
    for i, clk in overlay.clock_dict.items():
        if clk.get("enable") and clk.get("frequency") is None:
            rate = params.get(f"PCW_ACT_FPGA{i}_PERIPHERAL_FREQMHZ") or params.get(f"PCW_FPGA{i}_PERIPHERAL_FREQMHZ")
            if rate is not None:
                clk["frequency"] = float(rate)


def open_board(path: str | Path, ip: str | None = None, *, download: bool = True) -> Board:
    """Load the overlay (this programs the PL) and find the core; raises :class:`BoardError`."""
    bit, _ = check_overlay_files(path)
    pynq = import_pynq()
    from evoconn.host import driver as _driver  # registers EvoconnCoreDriver with pynq

    try:
        overlay = pynq.Overlay(str(bit.resolve()), download=False)
        _zynq7_clock_rates(overlay)
        if download:
            overlay.download()  # sets the PL clocks from clock_dict, then programs the PL
    except Exception as e:  # pynq raises RuntimeError('No Devices Found') off a board, parse errors, ...
        raise BoardError(f"pynq could not load {bit}: {_one_line(e)}") from None
    name = find_core(overlay, ip)
    try:
        drv = functools.reduce(getattr, name.split("/"), overlay)
    except Exception as e:
        raise BoardError(f"pynq could not make a driver for {name!r} in {bit}: {_one_line(e)}") from None
    if not isinstance(drv, _driver.EvoconnCoreDriver):
        raise BoardError(f"pynq bound {name!r} to {type(drv).__name__}, not EvoconnCoreDriver: another "
                         f"driver claims {ipid.VLNV}")
    return Board(overlay=overlay, name=name, driver=drv, bit=bit)


def open_core(board: Board, spec: Spec | None = None, **kw: Any) -> RegisterCore:
    """A RegisterCore on the board's core; pynq's errors become :class:`BoardError`/BusError."""
    try:
        return RegisterCore(board.bus(), spec, **kw)
    except CoreError:
        raise
    except Exception as e:
        raise BoardError(f"cannot talk to the core {board.name!r} at 0x{board.phys_addr:x}: {_one_line(e)}") from None


def board_clock_mhz() -> float | None:
    """FCLK0 as pynq reads it from the PS (None off a board)."""
    try:
        import pynq

        return float(pynq.Clocks.fclk0_mhz)
    except Exception:  # off the board, or another pynq
        return None


def bitstream_manifest(bit: Path) -> dict[str, Any] | None:
    """The Vivado flow's manifest beside the .bit (``NAME.json`` or ``manifest.json``), if any."""
    for cand in (bit.with_suffix(".json"), bit.parent / "manifest.json"):
        if cand.is_file():
            return load_manifest(cand)
    return None


def check_bitstream_manifest(bit: Path, core: RegisterCore) -> None:
    """Refuse a core whose SPEC_HASH differs from the manifest the flow wrote beside the .bit."""
    built = bitstream_manifest(bit)
    if built is not None and built.get("spec_hash", "")[:8] != f"{core.spec.hash32:08x}":
        raise BoardError(f"the core's SPEC_HASH 0x{core.spec.hash32:08x} differs from the "
                         f"bitstream manifest's {str(built.get('spec_hash'))[:16]}: stale .bit?")
