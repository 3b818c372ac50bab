"""Run ``evoconn`` and SIGKILL this process at a chosen moment (for test_kill_anywhere.py).

    python kill_driver.py MOMENT evoconn-args...

MOMENT is one of:
- ``after-config``: right after the run folder's ``config.json`` is written;
- ``replace:NAME:K``: just before the K-th ``os.replace`` onto a file called NAME (an atomic write
  whose temporary file is complete and whose target still holds the old content);
- ``metrics:G``: right after the metrics line of generation G is written and flushed.

The hooks wrap standard-library calls in this process only; the library is not changed.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
from pathlib import Path


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def install(moment: str) -> None:
    kind, _, rest = moment.partition(":")
    if kind == "replace":
        name, _, k = rest.partition(":")
        seen = [0]
        real = os.replace

        def replace(src, dst, *a, **kw):
            if Path(dst).name == name:
                seen[0] += 1
                if seen[0] == int(k):
                    _die()
            return real(src, dst, *a, **kw)

        os.replace = replace
    elif kind == "after-config":
        real = os.replace

        def replace(src, dst, *a, **kw):
            out = real(src, dst, *a, **kw)
            if Path(dst).name == "config.json":
                _die()
            return out

        os.replace = replace
    elif kind == "metrics":
        gen = int(rest)
        real_open = Path.open

        def open_(self, mode="r", *a, **kw):
            f = real_open(self, mode, *a, **kw)
            return _Watch(f, gen) if self.name == "metrics.jsonl" and "a" in mode else f

        Path.open = open_
    else:
        raise SystemExit(f"unknown moment {moment!r}")


class _Watch:
    """A metrics file that kills the process once generation ``gen``'s line is flushed."""

    def __init__(self, f, gen: int):
        self._f, self._gen, self._last = f, gen, None

    def write(self, s: str) -> int:
        n = self._f.write(s)
        with contextlib.suppress(ValueError, KeyError, TypeError):
            self._last = json.loads(s)["generation"]
        return n

    def flush(self) -> None:
        self._f.flush()
        if self._last == self._gen:
            os.fsync(self._f.fileno())
            _die()

    def __getattr__(self, name):
        return getattr(self._f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return self._f.__exit__(*exc)


if __name__ == "__main__":
    install(sys.argv[1])
    from evoconn.cli import main

    sys.exit(main(sys.argv[2:]))
