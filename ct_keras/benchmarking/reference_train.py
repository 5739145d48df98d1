"""Training speed and memory against the authors' PyTorch CTN (`--cases=reference_train`).

One training step is the same work on both sides: their `CompositeTaskingNetV0` (imported
from a checkout of their repository, `reference.load_reference_ctn`) in train mode, and our
CTN given the same weights; forward on one batch with its R1r palettes, a stand-in loss (the
mean square of the raw output: their task losses and ours are per-pixel elementwise work,
small beside the network), backward, and one Adam step of every weight.

    side="both"    both in one process, timed alternately (theirs, ours, theirs, …), with
                   the two losses of the first step compared (the same network, the same
                   batch statistics: they must agree)
    side="theirs"  their step alone in a fresh process, for its peak memory
    side="ours"    ours alone, likewise

Peak memory is the resident-set high-water mark of that process less its resident set just
before the model is built (the frameworks already imported), so that each side is charged
for its own weights, optimizer state, activations and workspace only.
"""

from ct_keras.benchmarking import inputs, memory, reference, stats

SIDES = ("both", "theirs", "ours")
LEARNING_RATE = 1e-5  # small: the timed steps must not drive the weights anywhere odd


def their_step(model, image, palette):
    """`f() → loss` of one Adam step of their model on the batch (NHWC 0..255, `[B, H, W]`)."""
    import torch

    model.train()
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], LEARNING_RATE)
    x = torch.from_numpy(reference.normalise(image))
    palette_t = torch.from_numpy(palette.astype("int64"))
    task_ids = torch.unique(palette_t).tolist()  # what their System passes (the tasks in the batch)

    def step():
        optimizer.zero_grad(set_to_none=True)
        out = model.forward_composite_task(x, palette_t, task_ids)
        loss = out.square().mean()
        loss.backward()
        optimizer.step()
        return float(loss.detach())

    return step


def our_step(net, image, palette):
    """`f() → loss` of one Adam step of our CTN on the same batch (a traced graph)."""
    import keras
    import tensorflow as tf

    optimizer = keras.optimizers.Adam(LEARNING_RATE)
    optimizer.build(net.trainable_variables)
    batch = {"image": tf.constant(image), "palette": tf.constant(palette)}

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            out = net(batch, training=True)
            loss = tf.reduce_mean(tf.square(tf.cast(out, tf.float32)))
        optimizer.apply(tape.gradient(loss, net.trainable_variables), net.trainable_variables)
        return loss

    return lambda: float(step().numpy())


def _ours(case, their_model=None):
    from ct_keras.benchmarking import models
    from ct_keras.models.torch_import import load_torch_state_dict

    net = models.build("ctn", case["image_size"], case["backbone"], seed=case["seed"])["net"]
    if their_model is not None:
        load_torch_state_dict(net, reference.state_dict_numpy(their_model))
    return net


def _batch(case):
    b, size = case["train_batch_size"], case["image_size"]
    return inputs.images(b, size, seed=5), inputs.r1r_palettes(b, size, seed=5)


def run(case):
    """The results of one side (see the module's docstring)."""
    side = case["side"]
    if side not in SIDES:
        raise ValueError(f"side must be one of {SIDES}. Received {side!r}")
    image, palette = _batch(case)
    b = case["train_batch_size"]
    before_build = memory.current_rss_mib()
    out = {"side": side, "batch_size": b, "image_size": case["image_size"], "backbone": case["backbone"],
           "palette": "R1r", "loss": "mean square of the raw output (both)", "optimizer": "Adam (both)"}
    if side == "ours":
        step = our_step(_ours(case), image, palette)
    else:
        theirs, out["notes"] = reference.load_reference_ctn(case["reference_repo"], seed=case["seed"],
                                                            encoder_arch=case["backbone"])
        step = their_step(theirs, image, palette)
    if side != "both":
        out["timing"] = stats.time_call(step, b, case["warmup"], case["train_repeats"])
        out.update(peak_rss_mib=memory.peak_rss_mib(), rss_before_build_mib=before_build,
                   added_peak_mib=memory.peak_rss_mib() - before_build)
        return out
    # Both: their weights copied into ours before either has taken a step, so the first
    # losses must agree; then alternate.
    ours = our_step(_ours(case, theirs), image, palette)
    first = {"theirs": step(), "ours": ours()}
    out["first_step_loss"] = first
    out["first_step_loss_relative_diff"] = abs(first["ours"] - first["theirs"]) / max(abs(first["theirs"]), 1e-12)
    timings = stats.time_alternating({"theirs": step, "ours": ours}, b, max(0, case["warmup"] - 1),
                                     case["train_repeats"])
    out["timing"] = timings
    paired = stats.paired_ratios(timings["ours"]["runs"], timings["theirs"]["runs"])
    out["speedup_vs_reference"] = timings["ours"]["images_per_s"] / timings["theirs"]["images_per_s"]
    out["speedup_per_round"] = {k: paired[f"speedup_per_round_{k}"] for k in ("median", "min", "max")}
    return out
