"""Parameters and GFLOPs per image, for one composite output and for "all five tasks
everywhere" (the comparison of the paper's Fig. 5).

FLOPs are TF-profiler counts of each model's real inference graph
(`ct_keras.models.complexity.count_flops`; a multiply-add is 2). Per model:

    CTN, plain      composite 1 pass; all tasks = 5 whole passes
    CTN, shared     all tasks = 1 encoder pass + 5 × (everything but the encoder)
    CTN, fast       the graphs of `ct_keras.deploy.FastCompositeTasking` (per-task tables
                    instead of the 1×1 convs on the embedding; all tasks = 1 encoder
                    pass + 5 decoder passes with γ, β per-channel constants), counted the
                    same way (table look-ups are gathers: memory traffic, 0 FLOPs)
    MHN             1 encoder + 5 decoders for either workload
    STN × 5         composite = one STN per task in the palette (4 for R1r); all = 5
    MN              5 whole networks for either workload
"""

from ct_keras.models.complexity import count_flops, count_params
from ct_keras.tasks import NUM_TASKS

R1R_TASKS = 4


def measure(image_size=256, backbone="resnet34", kinds=("ctn", "mhn", "stn", "mn")):
    import keras

    from ct_keras.models import MODELS

    out = {}
    for kind in kinds:
        keras.utils.set_random_seed(0)
        model = MODELS[kind](backbone=backbone, image_size=image_size)
        trainable, total = count_params(model)
        gflops = count_flops(model) / 1e9
        copies = NUM_TASKS if kind == "stn" else 1
        row = {"trainable_params": trainable * copies, "total_params": total * copies,
               "gflops_one_pass": gflops}
        if kind == "ctn":
            encoder = count_flops(model.encoder) / 1e9
            row.update(gflops_encoder=encoder, gflops_composite=gflops,
                       gflops_all_tasks=NUM_TASKS * gflops,
                       gflops_all_tasks_shared_encoder=encoder + NUM_TASKS * (gflops - encoder))
            row.update(_fast_path_gflops(model))
        elif kind == "stn":
            row.update(gflops_composite=R1R_TASKS * gflops, gflops_all_tasks=NUM_TASKS * gflops)
        else:
            row.update(gflops_composite=gflops, gflops_all_tasks=gflops)
        out[kind] = row
        del model
        keras.backend.clear_session()
    return out


def graph_flops(fn, *specs):
    """FLOPs of a `tf.function` on inputs of `specs`, counted like `count_flops`."""
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    graph = convert_variables_to_constants_v2(tf.function(fn).get_concrete_function(*specs)).graph
    options = tf.compat.v1.profiler.ProfileOptionBuilder(
        tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()).with_empty_output().build()
    profile = tf.compat.v1.profiler.profile(graph=graph, run_meta=tf.compat.v1.RunMetadata(),
                                            cmd="op", options=options)
    return int(profile.total_float_ops)


def _fast_path_gflops(model):
    """GFLOPs of the deploy fast path's composite and all-task graphs (empty without it)."""
    try:
        from ct_keras.deploy import FastCompositeTasking
    except ImportError:
        return {}
    import tensorflow as tf

    fast = FastCompositeTasking(model)
    h, w = model.image_hw
    image, palette = tf.TensorSpec((1, h, w, 3), tf.float32), tf.TensorSpec((1, h, w), tf.int32)
    return {"gflops_fast_composite": graph_flops(fast.composite, image, palette) / 1e9,
            "gflops_fast_all_tasks": graph_flops(fast.all_tasks, image) / 1e9}
