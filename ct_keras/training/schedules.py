"""The paper's learning-rate schedules (docs/design.md §5)."""

import keras

SCHEDULES = ("multistep", "plateau", "constant", "cosine")


def multistep(base_rate, milestones, factor, steps_per_epoch):
    """× `factor` at each epoch in `milestones` (the reference: [60, 80, 94] × 0.3)."""
    milestones = sorted(int(m) for m in milestones)
    if not milestones:
        return base_rate
    return keras.optimizers.schedules.PiecewiseConstantDecay(
        # The step counter is 0-based and the decay holds its value up to a boundary
        # inclusive: epoch m starts at step m·steps_per_epoch.
        boundaries=[m * steps_per_epoch - 1 for m in milestones],
        values=[base_rate * factor**i for i in range(len(milestones) + 1)],
    )


def cosine(base_rate, total_steps, warmup_steps=0):
    """Linear warm-up from 0 to `base_rate` over `warmup_steps`, then a cosine decay to 0
    at `total_steps` (not the paper's: the demo's short from-scratch runs)."""
    if not 0 <= warmup_steps < total_steps:
        raise ValueError(f"--warmup_steps must be below the run's {total_steps} steps "
                         f"(--epochs × steps per epoch). Received {warmup_steps}")
    return keras.optimizers.schedules.CosineDecay(
        0.0 if warmup_steps else base_rate, total_steps - warmup_steps,
        warmup_target=base_rate if warmup_steps else None, warmup_steps=warmup_steps)


def learning_rate(schedule, base_rate, steps_per_epoch, milestones=(60, 80, 94), factor=0.3,
                  total_steps=None, warmup_steps=0):
    """The `learning_rate` for the optimizer; `plateau` and `constant` use a plain float
    (`plateau` is then driven by `callbacks.ResumablePlateau`, a resumable
    `ReduceLROnPlateau`); `cosine` needs the run's `total_steps`."""
    if schedule not in SCHEDULES:
        raise ValueError(f"`schedule` must be one of {SCHEDULES}. Received {schedule!r}")
    if schedule == "multistep":
        return multistep(base_rate, milestones, factor, steps_per_epoch)
    if schedule == "cosine":
        return cosine(base_rate, total_steps, warmup_steps)
    return float(base_rate)
