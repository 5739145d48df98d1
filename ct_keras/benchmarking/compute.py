"""Parameters and GFLOPs per image, for one composite output and for "all five tasks
everywhere" (the comparison of the paper's Fig. 5).

FLOPs are TF-profiler counts of each model's real inference graph
(`ct_keras.models.complexity.count_flops`; a multiply-add is 2). Per model:

    CTN, plain      composite 1 pass; all tasks = 5 whole passes
    CTN, shared     all tasks = 1 encoder pass + 5 × (everything but the encoder);
                    what the fast path of `ct_keras.deploy` runs
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
        elif kind == "stn":
            row.update(gflops_composite=R1R_TASKS * gflops, gflops_all_tasks=NUM_TASKS * gflops)
        else:
            row.update(gflops_composite=gflops, gflops_all_tasks=gflops)
        out[kind] = row
        del model
        keras.backend.clear_session()
    return out
