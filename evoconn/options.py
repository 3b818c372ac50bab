"""The command line's validation layer: every option's rule, checked before any work starts.

Every ``evoconn`` command goes through it (:func:`evoconn.cli.main`):

1. **Parsing.** Numeric options are declared with a typed rule from this module (:func:`count`,
   :func:`real`, ...). A value that breaks the rule is refused by argparse with one line naming the
   option and the rule (``argument --population: must be an integer >= 2, got '0'``); the hub's
   parser (:class:`Parser`) prints that line alone, without the usage block, and exits 2.
2. **Preflight.** A command may set ``preflight`` on its parser (``p.set_defaults(preflight=fn)``):
   ``fn(args)`` runs after parsing and before the command, and checks what the option types cannot
   see alone: sizes that must agree (lanes that divide N), output paths that must be writable,
   inputs that must exist and parse, memory a size would need. It raises :class:`OptionError`;
   nothing has been written by then.

All checks here are read-only: they create no file or folder, so a refused command leaves the
file system as it found it. Imports nothing beyond the standard library (the board runs the CLI).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

__all__ = [
    "OptionError",
    "Parser",
    "check_input_file",
    "check_memory",
    "check_output",
    "count",
    "integer",
    "real",
]


class OptionError(ValueError):
    """An option value the command refuses: printed as one line, exit code 2, nothing written."""


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``evoconn train: error: argument --population: ...``.

    The usage block argparse prints before an error is left out (``--help`` still shows it), so a
    script or a person reads one line that names the option and the rule. Sub-parsers inherit it.
    """

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def _typed(fn: Callable[[str], object], name: str) -> Callable[[str], object]:
    fn.__name__ = name  # argparse names the type in some of its own messages
    return fn


def _rule(what: str, lo, hi, lo_open: bool = False, hi_open: bool = False, sep: str = "") -> str:
    """The words of a range rule: ``an integer, at least 1``, ``a finite number in (0, 0.5)``...
    (``sep`` goes between ``what`` and a one-sided bound)."""
    if lo is not None and hi is not None:
        return f"{what} in {'(' if lo_open else '['}{lo}, {hi}{')' if hi_open else ']'}"
    if lo is not None:
        return f"{what}{sep} {'above' if lo_open else 'at least'} {lo}"
    if hi is not None:
        return f"{what}{sep} {'below' if hi_open else 'at most'} {hi}"
    return what


def integer(lo: int | None = None, hi: int | None = None) -> Callable[[str], int]:
    """An integer in ``[lo, hi]`` (either bound may be open-ended); base prefixes (0x..) accepted."""
    rule = _rule("an integer", lo, hi, sep=",")

    def parse(text: str) -> int:
        try:
            v = int(text, 0)
        except (TypeError, ValueError):
            raise argparse.ArgumentTypeError(f"must be {rule}, got {text!r}") from None
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            raise argparse.ArgumentTypeError(f"must be {rule}, got {text!r}")
        return v

    return _typed(parse, "integer")  # type: ignore[return-value]


def count(lo: int = 1, hi: int | None = None) -> Callable[[str], int]:
    """A count of things: an integer >= ``lo`` (1 unless said otherwise)."""
    return integer(lo, hi)


def real(lo: float | None = None, hi: float | None = None, *, lo_open: bool = False,
         hi_open: bool = False) -> Callable[[str], float]:
    """A finite float in the interval (``lo_open``/``hi_open`` exclude the bound). NaN and
    infinity are refused: no option of evoconn means anything with them."""
    rule = _rule("a finite number", lo, hi, lo_open, hi_open)

    def parse(text: str) -> float:
        try:
            v = float(text)
        except (TypeError, ValueError):
            raise argparse.ArgumentTypeError(f"must be {rule}, got {text!r}") from None
        bad = not math.isfinite(v)
        if lo is not None:
            bad |= v <= lo if lo_open else v < lo
        if hi is not None:
            bad |= v >= hi if hi_open else v > hi
        if bad:
            raise argparse.ArgumentTypeError(f"must be {rule}, got {text!r}")
        return v

    return _typed(parse, "number")  # type: ignore[return-value]


# --- preflight checks (read-only) ------------------------------------------------------------


def _nearest_existing(path: Path) -> Path:
    p = path.absolute()
    while not p.exists():
        if p.parent == p:
            break
        p = p.parent
    return p


def check_output(path: str | os.PathLike | None, option: str, *, kind: str = "file") -> None:
    """``path`` can be written as a ``kind`` ("file" or "dir") without touching anything now.

    An existing path must be of that kind and writable; a missing one needs its nearest existing
    ancestor to be a writable folder (the command creates the folders in between later).
    """
    if path is None:
        return
    p = Path(path)
    if str(path) == "":
        raise OptionError(f"{option}: an empty path")
    if p.exists():
        if kind == "dir" and not p.is_dir():
            raise OptionError(f"{option} {p}: exists and is not a folder")
        if kind == "file" and p.is_dir():
            raise OptionError(f"{option} {p}: is a folder, expected a file name")
        if not os.access(p, os.W_OK):
            raise OptionError(f"{option} {p}: not writable")
        return
    anc = _nearest_existing(p)
    if not anc.is_dir():
        raise OptionError(f"{option} {p}: not writable ({anc} is a file, so nothing can be created "
                          "under it)")
    if not os.access(anc, os.W_OK | os.X_OK):
        raise OptionError(f"{option} {p}: not writable ({anc} is not writable, so it cannot be created)")


def check_input_file(path: str | os.PathLike | None, option: str) -> None:
    """``path`` exists, is a file and is readable."""
    if path is None:
        return
    p = Path(path)
    if not p.exists():
        raise OptionError(f"{option} {p}: no such file")
    if p.is_dir():
        raise OptionError(f"{option} {p}: is a folder, expected a file")
    if not os.access(p, os.R_OK):
        raise OptionError(f"{option} {p}: not readable")


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation (Linux ``MemAvailable``), or None if unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def check_memory(need: int, what: str, *, available: int | None = None) -> None:
    """Refuse a size whose estimated working set ``need`` (bytes) exceeds the memory available."""
    avail = available_memory() if available is None else available
    if avail is not None and need > avail:
        raise OptionError(f"{what} needs about {need / 2**30:.1f} GiB, more than the "
                          f"{avail / 2**30:.1f} GiB of memory available; use a smaller size")


def run_preflight(args: argparse.Namespace) -> None:
    """The command's preflight, if it has one (called by the hub before the command runs)."""
    fn = getattr(args, "preflight", None)
    if fn is not None:
        fn(args)


def quiet_broken_pipe() -> int:
    """After stdout's reader went away (``evoconn spec --json | head``): no traceback, and no
    second error when Python flushes stdout at exit. Returns the shell's code for SIGPIPE."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    return 141
