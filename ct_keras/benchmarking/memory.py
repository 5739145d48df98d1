"""Peak memory of a benchmark case: the resident-set high-water mark of its process.

Each case runs in a fresh subprocess (`worker`), so `ru_maxrss` is that case's own
peak: the runtime, the model's weights, every buffer the path allocated, all batch
sizes up to the current one. TensorFlow allocates through its own C++ allocators, so
Python-level tools (tracemalloc) would miss almost all of it; RSS does not. It counts
shared libraries too, so the baseline (after importing TensorFlow, before building
anything) is reported beside it, and the difference is what the case added.
"""

import resource
import sys


def peak_rss_mib():
    """High-water mark of this process's resident set, in MiB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes.
    return peak / 1024.0 if sys.platform != "darwin" else peak / 2**20


def current_rss_mib():
    """Resident set now, in MiB (Linux; falls back to the peak elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
    except OSError:
        return peak_rss_mib()
    import os

    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
