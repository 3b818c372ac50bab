"""Stand-ins for Yosys and Vivado that do what the flows expect of them and count their runs.

Run as ``python fake_tools.py yosys|vivado ARGS...``; each run that builds (not a version query)
appends a line to the file named by ``FAKE_TOOL_COUNT``. ``FAKE_TOOL_VERSION`` sets the version.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

CELLS = {"LUT2": 100, "LUT6": 20, "RAM32M": 4, "FDRE": 300, "RAMB36E1": 2, "RAMB18E1": 1, "DSP48E1": 0}


def _count(tool: str) -> None:
    with open(os.environ["FAKE_TOOL_COUNT"], "a") as f:
        f.write(tool + "\n")


def main(argv: list[str]) -> int:
    tool, args = argv[0], argv[1:]
    version = os.environ.get("FAKE_TOOL_VERSION", "1.0")
    if tool == "yosys":
        if args == ["-V"]:
            print(f"Yosys fake {version}")
            return 0
        _count(tool)
        script = Path(args[-1]).read_text()
        assert "synth_xilinx" in script and "stat -json" in script, script
        Path("synth.log").write_text("fake\n")
        Path("stat.json").write_text(json.dumps({"design": {"num_cells_by_type": CELLS}}))
        return 0
    if tool == "vivado":
        if args == ["-version"]:
            print(f"Vivado v{version} (fake)")
            return 0
        _count(tool)
        tcl = Path(args[args.index("-source") + 1]).read_text()
        name = next(ln.split()[2] for ln in tcl.splitlines() if ln.startswith("set name "))
        Path(f"{name}.bit").write_bytes(b"\x00\xff fake bitstream")
        Path(f"{name}.hwh").write_text("<fake/>\n")
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
