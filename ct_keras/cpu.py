"""What the CPU offers: its instruction-set flags, and whether it computes bfloat16 natively.

Used where a choice depends on the machine (`--precision=auto`, the benchmarks' bf16 path)
and where a measurement names it (`ct_keras.benchmarking.machine`).
"""

import os

ISA_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_int8")
BFLOAT16_FLAGS = ("avx512_bf16", "amx_bf16")


def cpu_flags(wanted=ISA_FLAGS):
    """Which of the `wanted` instruction-set flags this CPU has (Linux; [] elsewhere)."""
    try:
        with open("/proc/cpuinfo") as f:
            line = next(l for l in f if l.startswith("flags"))
    except (OSError, StopIteration):
        return []
    have = set(line.split(":", 1)[1].split())
    return [w for w in wanted if w in have]


def native_bfloat16(flags=None):
    """True where oneDNN can run bfloat16 natively: the CPU has AVX512_BF16 or AMX
    (`flags`: the CPU's flags, default this one's), and `ONEDNN_MAX_CPU_ISA` does not hold
    oneDNN below those kernels (`=AVX2` shows an AVX2 box's path, where bfloat16 is
    emulated and slower than float32)."""
    flags = cpu_flags() if flags is None else flags
    isa = os.environ.get("ONEDNN_MAX_CPU_ISA", "ALL").upper()
    if isa not in ("ALL", "DEFAULT") and "BF16" not in isa and "AMX" not in isa:
        return False
    return bool(set(BFLOAT16_FLAGS) & set(flags))
