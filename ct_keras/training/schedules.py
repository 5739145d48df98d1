"""The paper's learning-rate schedules (DESIGN §5)."""

import keras

SCHEDULES = ("multistep", "plateau", "constant")


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


def learning_rate(schedule, base_rate, steps_per_epoch, milestones=(60, 80, 94), factor=0.3):
    """The `learning_rate` for the optimizer; `plateau` and `constant` use a plain float
    (`plateau` is then driven by `callbacks.ResumablePlateau`, a resumable
    `ReduceLROnPlateau`)."""
    if schedule not in SCHEDULES:
        raise ValueError(f"`schedule` must be one of {SCHEDULES}. Received {schedule!r}")
    if schedule == "multistep":
        return multistep(base_rate, milestones, factor, steps_per_epoch)
    return float(base_rate)
