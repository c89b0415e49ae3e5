"""Which build of hadw's C++ kernels this process runs.

The extension is built once per instruction set (python/CMakeLists.txt): ``hadw._core`` for the
architecture's baseline and, on x86-64, ``hadw._core_x86_64_v2`` / ``_v3`` / ``_v4``. At import
the widest one this CPU supports is chosen, unless the environment variable ``HADW_ISA`` names one
('baseline', 'x86-64-v2', 'x86-64-v3', 'x86-64-v4'). Every variant computes the same bits (the
lockstep kernels give each group its own lane), so the choice changes speed only.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from typing import List

from . import _core as _baseline  # runs on every machine: it makes the choice

#: The variants hadw knows, narrowest first.
ISAS = ("baseline", "x86-64-v2", "x86-64-v3", "x86-64-v4")


def module_name(isa: str) -> str:
    """'x86-64-v3' -> 'hadw._core_x86_64_v3'; 'baseline' -> 'hadw._core'."""
    return "hadw._core" if isa == "baseline" else "hadw._core_" + isa.replace("-", "_")


def built() -> List[str]:
    """The variants this installation has, narrowest first."""
    return [isa for isa in ISAS
            if isa == "baseline" or importlib.util.find_spec(module_name(isa)) is not None]


def supported() -> List[str]:
    """The built variants this CPU (and OS) can run, narrowest first."""
    return [isa for isa in built() if _baseline._cpu_supports(isa)]


def _choose() -> str:
    forced = os.environ.get("HADW_ISA", "")
    if not forced:
        return supported()[-1]
    if forced not in ISAS:
        raise ImportError(f"HADW_ISA: one of {', '.join(ISAS)} required, got {forced!r}")
    if forced not in built():
        raise ImportError(f"HADW_ISA={forced}: this installation of hadw has no such build "
                          f"(built: {', '.join(built())})")
    if not _baseline._cpu_supports(forced):
        raise ImportError(f"HADW_ISA={forced}: this CPU cannot run it "
                          f"(supported here: {', '.join(supported())})")
    return forced


isa = _choose()
core = _baseline if isa == "baseline" else importlib.import_module(module_name(isa))
