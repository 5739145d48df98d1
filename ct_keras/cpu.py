"""What the CPU offers: its instruction-set flags, whether it computes bfloat16 natively, and
whether TensorFlow runs its oneDNN kernels on it.

Used where a choice depends on the machine (`--precision=auto`, the benchmarks' bf16 path,
oneDNN on AVX2 CPUs) and where a measurement names it (`ct_keras.benchmarking.machine`).
"""

import os
import platform

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


ONEDNN_VARIABLE = "TF_ENABLE_ONEDNN_OPTS"


def prefer_onednn(flags=None, environ=None, machine=None):
    """Asks TensorFlow for its oneDNN kernels on every x86 CPU with AVX2; returns the
    setting in effect (`"1"`, the user's own value, or None where nothing was set).

    TensorFlow's Linux wheels turn oneDNN on by default only where the CPU has AVX512_VNNI,
    AVX512_BF16, AVX_VNNI or AMX. On an AVX2-only CPU (AMD EPYC Rome/Milan, Intel before
    Cascade Lake) they run Eigen's kernels instead: there a CTN's training step runs 1.68×
    and the SavedModel 1.17× slower than with oneDNN (the plain graph's inference 1.6×
    faster; BENCHMARKS.md, "oneDNN on AVX2 CPUs"). TensorFlow reads `TF_ENABLE_ONEDNN_OPTS`
    once, when it is imported, so `import ct_keras` (which imports no TensorFlow) sets it
    first; with TensorFlow imported before ct_keras it has no effect. A value the user set
    is kept: `TF_ENABLE_ONEDNN_OPTS=0` still turns oneDNN off.

    Args:
        flags: the CPU's flags (default: this one's, `cpu_flags()`).
        environ: the environment to read and set (default: `os.environ`).
        machine: `platform.machine()` (default: this one's).
    """
    environ = os.environ if environ is None else environ
    if ONEDNN_VARIABLE in environ:
        return environ[ONEDNN_VARIABLE]
    machine = platform.machine() if machine is None else machine
    flags = cpu_flags() if flags is None else flags
    if machine.lower() in ("x86_64", "amd64") and "avx2" in flags:
        environ[ONEDNN_VARIABLE] = "1"
        return "1"
    return None
