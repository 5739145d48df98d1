"""Ours against the authors' PyTorch CTN, in one process, with the same weights, the same
input and the same thread count, timed alternately (theirs, ours, ours, …, repeat)."""

from ct_keras.benchmarking import inputs, paths, reference, stats

TOLERANCE = 1e-4


def run(case):
    from ct_keras.models.torch_import import load_torch_state_dict

    size, b = case["image_size"], case["reference_batch_size"]
    theirs, notes = reference.load_reference_ctn(case["reference_repo"], seed=case["seed"],
                                                 encoder_arch=case["backbone"])
    calibration = [inputs.images(2, size, seed=100 + i) for i in range(2)]
    reference.calibrate_batch_norm(theirs, calibration,
                                   [inputs.r1r_palettes(2, size, seed=100 + i) for i in range(2)])
    state = reference.state_dict_numpy(theirs)

    def init(models):
        load_torch_state_dict(models["net"], state)

    image, palette = inputs.images(b, size, seed=3), inputs.r1r_palettes(b, size, seed=3)
    timed = {"reference": reference.forward_fn(theirs)(image, palette)}
    expected = timed["reference"]()
    diffs, unavailable = {}, {}
    try:  # their model as deployed with onnxruntime: the anchor a practitioner would use
        timed["onnxruntime"] = reference.onnxruntime_fn(theirs, case["threads"])(image, palette)
        onnx_diff = paths.max_abs_diff(timed["onnxruntime"](), expected)
    except paths.Unavailable as e:
        timed.pop("onnxruntime", None)
        unavailable["their onnxruntime"] = str(e)
    table = paths.paths()
    spec = {"image_size": size, "backbone": case["backbone"], "seed": case["seed"], "init": init,
            "threads": case["threads"]}
    for name in case["reference_paths"]:
        try:
            composite, _ = table[name][0]("ctn", spec)
        except paths.Unavailable as e:
            unavailable[name] = str(e)
            continue
        diffs[name] = paths.max_abs_diff(composite(image, palette), expected)
        timed[name] = (lambda f: lambda: f(image, palette))(composite)
    timings = stats.time_alternating(timed, b, case["warmup"], case["reference_repeats"])
    ours = {}
    for name in diffs:
        exact = table[name][1]
        ours[name] = dict(
            timings[name], max_abs_diff_vs_reference=diffs[name], exact=exact,
            equal_within_tolerance=diffs[name] <= TOLERANCE if exact else None,
            speedup_vs_reference=timings[name]["images_per_s"] / timings["reference"]["images_per_s"],
            **stats.paired_ratios(timings[name]["runs"], timings["reference"]["runs"]))
        if "onnxruntime" in timings:
            ours[name]["speedup_vs_onnxruntime"] = (timings[name]["images_per_s"]
                                                    / timings["onnxruntime"]["images_per_s"])
    anchor = {}
    if "onnxruntime" in timings:
        anchor = {"onnxruntime": dict(
            timings["onnxruntime"], max_abs_diff_vs_reference=onnx_diff,
            speedup_vs_reference=timings["onnxruntime"]["images_per_s"] / timings["reference"]["images_per_s"])}
    return {"reference": timings["reference"], **anchor, "ours": ours, "unavailable": unavailable,
            "batch_size": b, "palette": "R1r", "tolerance": TOLERANCE, "notes": notes,
            "output_scale": float(abs(expected).max())}
