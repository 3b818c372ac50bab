"""The lowest layer of pynq replaced for the board env's tests (.venv-board: real pynq 4.0, numpy<2).

Everything above it is pynq's own code (Bitstream, Overlay, the pynqmetadata HWH frontend and
RuntimeMetadataParser, ip_dict, the driver registry and DefaultIP, MMIO, Clocks on the Zynq SLCR
registers, bit2bin on the .bit); there is no FPGA manager to write the bitstream to, no /dev/mem and
no XRT here. :class:`OverlayStandIn` is the Device:

- ``get_bitfile_metadata``: pynq's HWH parser on the .hwh and pynq's .bit handler (what the
  embedded device does, minus the XRT xclbin that only allocates DMA memory);
- ``download``: receives the .bin bytes pynq converted from the .bit, then pynq's own post_download;
- ``mmap``: the core's range is a FakeBus (the core's behaviour model, ``device.fake``), the SLCR a
  plain memory whose IO PLL reads as the PYNQ-Z2 boot image leaves it (1000 MHz).

Used by pynq_overlay_standin.py and board_train_core.py (scripts run under the board env), which
also share :func:`cli`.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from pathlib import Path

import numpy as np
import pynq
from pynq.metadata.runtime_metadata_parser import RuntimeMetadataParser
from pynq.pl_server.embedded_device import _get_bitstream_handler
from pynq.ps import ZYNQ_ARCH, _ClocksZynq
from pynqmetadata.frontends import Metadata

from evoconn.host.bus import FakeBus

__all__ = ["OverlayStandIn", "RegisterArray", "cli"]


class RegisterArray(np.ndarray):
    """A uint32 array whose element and slice accesses go to a bus (the core's memory map)."""

    def __new__(cls, bus, words: int):
        obj = np.zeros(words, np.uint32).view(cls)
        obj.bus = bus
        obj.fail = False
        return obj

    def __array_finalize__(self, obj):
        self.bus = getattr(obj, "bus", None)
        self.fail = getattr(obj, "fail", False)

    def _check(self):
        if self.fail:  # what a failing mapping raises in Python (an AXI SLVERR would be a SIGBUS)
            raise OSError(5, "Input/output error")

    def __getitem__(self, key):
        self._check()
        if isinstance(key, slice):
            start, stop, _ = key.indices(len(self))
            return self.bus.read_block(4 * start, stop - start)
        return np.uint32(self.bus.read(4 * int(key)))

    def __setitem__(self, key, value):
        self._check()
        if isinstance(key, slice):
            start, _, _ = key.indices(len(self))
            self.bus.write_block(4 * start, np.asarray(value, np.uint32).ravel())
        else:
            self.bus.write(4 * int(key), int(value))


class OverlayStandIn(pynq.Device):
    """A Zynq-7000 (armv7l) memory-mapped device without an FPGA manager, /dev/mem or XRT."""

    def __init__(self):
        super().__init__("evoconn-overlay-standin")
        self.capabilities = {"MEMORY_MAPPED": True}
        self.arch = ZYNQ_ARCH
        self.downloads: list[int] = []
        self.core_maps: list[RegisterArray] = []
        self.fake: FakeBus | None = None
        self.slcr = np.zeros(0x200 // 4, np.uint32)
        regs = pynq.registers.RegisterMap.create_subclass("SL", pynq.ps.ZYNQ_SLCR_REGISTERS)(self.slcr)
        regs.IO_PLL_CTRL.PLL_FDIV = 20  # 50 MHz crystal x 20 = the IO PLL the PL clocks divide

    def get_bitfile_metadata(self, bitfile_name):
        parser = RuntimeMetadataParser(Metadata(input=Path(bitfile_name).with_suffix(".hwh")))
        parser.refresh_hierarchy_dict()
        parser.bin_data = _get_bitstream_handler(bitfile_name).get_bin_data()  # pynq's bit2bin
        parser.xclbin_data = parser.dtbo_data = None
        return parser

    def download(self, bitstream, parser=None):
        self.downloads.append(len(parser.bin_data))
        self.post_download(bitstream, parser, self.tag)

    def mmap(self, base_addr, length):
        if base_addr == _ClocksZynq.SLCR_BASE_ADDRESS:
            return self.slcr[: length // 4]
        arr = RegisterArray(self.fake, length // 4)
        self.core_maps.append(arr)
        return arr


def cli(*argv: str) -> tuple[int, str, str]:
    """``evoconn`` in this process: its exit code, stdout and stderr (pynq's warnings silenced)."""
    from evoconn.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()
