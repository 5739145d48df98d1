"""What the numbers were measured on."""

import os
import platform
from importlib import metadata

from ct_keras.cpu import ONEDNN_VARIABLE, cpu_flags


def _cpuinfo(key):
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith(key):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib():
    try:
        with open("/proc/meminfo") as f:
            return round(int(f.readline().split()[1]) / 2**20, 1)
    except (OSError, ValueError, IndexError):
        return None


def _version(package):
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def describe():
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "cpu": _cpuinfo("model name"),
        "cores_available": cores,
        "cpu_flags": cpu_flags(),
        "memory_gib": _memory_gib(),
        "python": platform.python_version(),
        "packages": {p: _version(p) for p in ("tensorflow", "keras", "torch", "ai-edge-litert")},
        "gpu": os.environ.get("NVIDIA_VISIBLE_DEVICES") or None,
        # Which kernels TensorFlow and PyTorch ran: oneDNN on or off (`cpu.prefer_onednn`), and
        # an ISA cap (ONEDNN_MAX_CPU_ISA reaches oneDNN in both, ATEN_CPU_CAPABILITY PyTorch's
        # own kernels; XNNPACK and onnxruntime choose from the CPU itself).
        "environment": {v: os.environ.get(v) for v in (ONEDNN_VARIABLE, "ONEDNN_MAX_CPU_ISA",
                                                       "ATEN_CPU_CAPABILITY")},
    }
