"""Timing: medians of repeated runs after warm-up, with the spread kept."""

import time


def summarize(seconds, images):
    """Per-run wall times → images/s median, min, max and every run."""
    rates = sorted(images / s for s in seconds)
    n = len(rates)
    median = rates[n // 2] if n % 2 else (rates[n // 2 - 1] + rates[n // 2]) / 2
    return {
        "images_per_s": median,
        "seconds_per_image": 1.0 / median,
        "min": rates[0],
        "max": rates[-1],
        "spread_pct": 100.0 * (rates[-1] - rates[0]) / median,
        "runs": [images / s for s in seconds],
    }


def time_call(fn, images, warmup=1, repeats=5):
    """Runs `fn()` `warmup` times untimed, then `repeats` timed times; `fn` must block
    until its result exists (return numpy, not a lazy tensor)."""
    for _ in range(warmup):
        fn()
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        seconds.append(time.perf_counter() - start)
    return summarize(seconds, images)


def time_alternating(fns, images, warmup=1, repeats=5):
    """Times several callables round-robin (a, b, c, a, b, c, …) so that load from
    other processes on a shared machine falls on all of them alike.

    `fns` is `{name: fn}`; returns `{name: summarize(...)}`.
    """
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    seconds = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            seconds[name].append(time.perf_counter() - start)
    return {name: summarize(s, images) for name, s in seconds.items()}


def paired_ratios(ours, theirs):
    """Ratios that resist other load on a shared machine: per round (the two ran back
    to back), their median and range, and the ratio of the fastest runs of each."""
    rounds = sorted(a / b for a, b in zip(ours, theirs))
    n = len(rounds)
    median = rounds[n // 2] if n % 2 else (rounds[n // 2 - 1] + rounds[n // 2]) / 2
    return {"speedup_per_round_median": median, "speedup_per_round_min": rounds[0],
            "speedup_per_round_max": rounds[-1], "speedup_best_runs": max(ours) / max(theirs)}
