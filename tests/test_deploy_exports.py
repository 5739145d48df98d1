"""SavedModel and TFLite exports: same outputs as Keras, clear errors, builtin ops only."""

import base64
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from ct_keras import tasks
from ct_keras.deploy import FastCompositeTasking, serving_requests
from ct_keras.deploy.saved_model import export_saved_model, next_version
from ct_keras.deploy.tflite import (
    check_builtin_ops, check_quantizations, convert, export_tflite, op_names, run_tflite,
)
from ct_keras.deploy.user_inputs import read_export_info
from tests.deploy_helpers import SIZE, keras_raw, random_inputs, tiny_ctn, uniform_palette

pytestmark = pytest.mark.slow
OUTPUTS = {"semseg", "parts", "edges", "saliency", "normals", "raw"}


@pytest.fixture(scope="module")
def ctn():
    return tiny_ctn(seed=10)


@pytest.fixture(scope="module")
def export_dir(ctn, tmp_path_factory):
    base = tmp_path_factory.mktemp("exported") / "ctn"
    export_saved_model(ctn, str(base))
    return base


@pytest.fixture(scope="module")
def served(export_dir):
    return tf.saved_model.load(str(export_dir / "1"))


def _call(served, signature, **inputs):
    outputs = served.signatures[signature](**{k: tf.constant(v) for k, v in inputs.items()})
    return {k: v.numpy() for k, v in outputs.items()}


def _assert_decoded(outputs, raw, palette):
    expected = tasks.decode_composite(raw, palette)
    for name in tasks.TASK_NAMES:
        if name in ("semseg", "parts"):
            # A class may flip only where two anchors are equally near (never, in practice).
            assert np.mean(outputs[name] == expected[name]) > 0.999, name
        else:
            np.testing.assert_allclose(outputs[name], expected[name], atol=1e-3, err_msg=name)


def test_layout_and_versions(export_dir, ctn):
    assert sorted(os.listdir(export_dir)) == ["1"]  # no temporary folder left behind
    assert {"saved_model.pb", "variables"} <= set(os.listdir(export_dir / "1"))
    info = read_export_info(str(export_dir / "1"))
    assert info["image_size"] == [SIZE, SIZE] and info["task_names"] == list(tasks.TASK_NAMES)
    assert next_version(str(export_dir)) == 2
    with pytest.raises(ValueError, match="already exists.*--version"):
        export_saved_model(ctn, str(export_dir), version=1)


@pytest.fixture(scope="module")
def constant_export(ctn, tmp_path_factory):
    return export_saved_model(ctn, str(tmp_path_factory.mktemp("exported") / "ctn"), constant_weights=True)


def test_constant_weights_export(constant_export, ctn, served):
    # No variables (oneDNN keeps a constant filter's layout); every signature calls the one
    # encoder function and one of two decoder functions (palettes; a task per image), so the
    # graph holds the encoder's weights once and the decoder's twice, not once per signature.
    params = FastCompositeTasking(ctn)._params
    encoder = sum(v.numpy().nbytes for k, v in params.items() if k.startswith("encoder/"))
    decoder = sum(v.numpy().nbytes for k, v in params.items() if not k.startswith("encoder/"))
    graph = os.path.getsize(os.path.join(constant_export, "saved_model.pb"))
    assert encoder + decoder < graph < encoder + 2 * decoder + 2_000_000
    variables = os.path.join(constant_export, "variables")
    assert sum(os.path.getsize(os.path.join(variables, n)) for n in os.listdir(variables)) < 10_000
    with pytest.raises(ValueError, match="`constant_weights` is for the fast path"):
        export_saved_model(ctn, os.path.dirname(constant_export), fast=False, constant_weights=True)
    constant = tf.saved_model.load(constant_export)
    image, palette = random_inputs(2, seed=13)
    for signature, inputs in (("serving_default", {"image": image, "palette": palette}),
                              ("single_task", {"image": image, "task": np.array([2, 4], np.int32)}),
                              ("all_tasks", {"image": image})):
        np.testing.assert_allclose(_call(constant, signature, **inputs)["raw"],
                                   _call(served, signature, **inputs)["raw"], atol=1e-5, err_msg=signature)


def test_serving_default_equals_keras(ctn, served):
    image, palette = random_inputs(2, seed=11)
    outputs = _call(served, "serving_default", image=image, palette=palette)
    assert set(outputs) == OUTPUTS
    assert outputs["semseg"].dtype == np.int32 and outputs["edges"].dtype == np.float32
    raw = keras_raw(ctn, image, palette)
    np.testing.assert_allclose(outputs["raw"], raw, atol=1e-4, rtol=0)
    _assert_decoded(outputs, raw, palette)


def test_other_signatures_equal_keras(ctn, served):
    image, _ = random_inputs(2, seed=12)
    raw = keras_raw(ctn, image, uniform_palette([4, 0]))
    outputs = _call(served, "single_task", image=image, task=np.array([4, 0], "int32"))
    np.testing.assert_allclose(outputs["raw"], raw, atol=1e-4, rtol=0)
    _assert_decoded(outputs, raw, uniform_palette([4, 0]))

    every = _call(served, "all_tasks", image=image[:1])
    assert every["raw"].shape == (1, 5, SIZE, SIZE, 3) and every["semseg"].shape == (1, SIZE, SIZE)
    np.testing.assert_allclose(every["raw"][:, 4], raw[:1], atol=1e-4, rtol=0)

    pixels = np.round(image).astype("uint8")
    palette = random_inputs(2, seed=13)[1]
    encoded = np.array([serving_requests.encode_png(p) for p in pixels])
    outputs = _call(served, "encoded_image", image_bytes=encoded, palette=palette)
    np.testing.assert_allclose(outputs["raw"], keras_raw(ctn, pixels.astype("float32"), palette),
                               atol=1e-4, rtol=0)


@pytest.mark.parametrize("signature, inputs, message", [
    ("serving_default", {"palette": np.full((1, SIZE, SIZE), 5, "int32")},
     r"`palette` must hold task ids in \[0, 5\).*\[5\] \[5\]"),
    ("serving_default", {"palette": np.full((1, SIZE, SIZE), -1, "int32")},
     r"`palette` must hold task ids in \[0, 5\).*\[-1\] \[-1\]"),
    ("serving_default", {"image": np.zeros((1, 32, 48, 3), "float32"),
                         "palette": np.zeros((1, 32, 48), "int32")},
     r"`image` must be 64x64 \(the size this model was exported at\).*\[32\] \[48\]"),
    ("serving_default", {"palette": np.zeros((1, 32, 32), "int32")},
     r"`palette` must have shape \[batch, 64, 64\]"),
    ("single_task", {"task": np.array([7], "int32")}, r"`task` must hold task ids in \[0, 5\)"),
    ("encoded_image", {"image_bytes": np.array([serving_requests.encode_png(np.zeros((32, 32, 3)))])},
     r"`image_bytes` must decode to 64x64 images.*\[\[32 32\]\]"),
])
def test_bad_requests_fail_clearly(served, signature, inputs, message):
    image, palette = random_inputs(1, seed=14)
    defaults = {"image": image, "palette": palette, "task": np.array([0], "int32")}
    args = [a for a in served.signatures[signature].structured_input_signature[1]]
    call = {name: inputs.get(name, defaults.get(name)) for name in args}
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        _call(served, signature, **call)


def test_loads_without_ct_keras(export_dir, ctn, tmp_path):
    # A serving process knows TensorFlow only.
    image, palette = random_inputs(1, seed=15)
    np.savez(tmp_path / "in.npz", image=image, palette=palette)
    script = f"""
import sys, numpy as np, tensorflow as tf
sys.path = [p for p in sys.path if p not in ("", {os.getcwd()!r})]
x = np.load({str(tmp_path / 'in.npz')!r})
fn = tf.saved_model.load({str(export_dir / '1')!r}).signatures["serving_default"]
out = fn(image=tf.constant(x["image"]), palette=tf.constant(x["palette"]))
np.save({str(tmp_path / 'raw.npy')!r}, out["raw"].numpy())
print(sorted(m for m in sys.modules if m.split(".")[0] == "ct_keras"))
"""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH="")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env,
                            cwd=str(tmp_path), timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "[]"  # ct_keras never imported
    np.testing.assert_allclose(np.load(tmp_path / "raw.npy"), keras_raw(ctn, image, palette),
                               atol=1e-4, rtol=0)

    cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    shown = subprocess.run([cli, "show", "--all", "--dir", str(export_dir / "1")],
                           capture_output=True, text=True, env=env, timeout=300)
    assert shown.returncode == 0, shown.stderr[-2000:]
    for text in ("signature_def['serving_default']", "signature_def['single_task']",
                 "signature_def['encoded_image']", "signature_def['all_tasks']",
                 "inputs['image']", "inputs['palette']", "inputs['image_bytes']",
                 "outputs['semseg']", "outputs['normals']", "outputs['raw']"):
        assert text in shown.stdout, text


def test_rest_body_runs_as_tf_serving_would(served):
    """The serving client's JSON, turned into tensors the way TF Serving does, runs."""
    image, palette = random_inputs(2, seed=16)
    image = np.round(image)
    direct = _call(served, "serving_default", image=image, palette=palette)["raw"]
    for signature, request_format in [("serving_default", "instances"), ("serving_default", "inputs"),
                                      ("encoded_image", "instances"), ("encoded_image", "inputs")]:
        body = json.loads(json.dumps(serving_requests.rest_body(
            signature, image, palette, request_format=request_format)))
        assert body["signature_name"] == signature
        if request_format == "instances":
            columns = {k: [row[k] for row in body["instances"]] for k in body["instances"][0]}
        else:
            columns = body["inputs"]
        tensors = {}
        for key, value in columns.items():
            if key == "image_bytes":
                tensors[key] = np.array([base64.b64decode(v["b64"]) for v in value])
            else:
                tensors[key] = np.asarray(value, "float32" if key == "image" else "int32")
        outputs = _call(served, signature, **tensors)
        np.testing.assert_allclose(outputs["raw"], direct, atol=1e-5, err_msg=f"{signature} {request_format}")


def test_grpc_request_runs_as_tf_serving_would(served):
    """The serving client's gRPC path end to end: its PredictRequest goes over a real gRPC
    channel to a PredictionService that runs the SavedModel (as TF Serving's Predict does),
    and the client reads the response tensors back."""
    grpc = pytest.importorskip("grpc")
    apis = pytest.importorskip("tensorflow_serving.apis.prediction_service_pb2_grpc")
    from concurrent import futures

    from tensorflow_serving.apis import predict_pb2

    received = []

    class Predictor(apis.PredictionServiceServicer):
        def Predict(self, request, context):
            received.append((request.model_spec.name, request.model_spec.signature_name))
            inputs = {k: tf.make_ndarray(v) for k, v in request.inputs.items()}
            try:
                outputs = _call(served, request.model_spec.signature_name, **inputs)
            except tf.errors.InvalidArgumentError as e:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, e.message)
            response = predict_pb2.PredictResponse()
            for key, value in outputs.items():
                response.outputs[key].CopyFrom(tf.make_tensor_proto(value))
            return response

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    apis.add_PredictionServiceServicer_to_server(Predictor(), server)
    port = server.add_insecure_port("localhost:0")
    server.start()
    try:
        image, palette = random_inputs(2, seed=17)
        image = np.round(image)
        direct = _call(served, "serving_default", image=image, palette=palette)
        for signature in ("serving_default", "encoded_image"):
            request = serving_requests.grpc_request(signature, "ctn", image, palettes=palette)
            outputs = serving_requests.grpc_predict(f"localhost:{port}", request)
            assert set(outputs) == OUTPUTS
            np.testing.assert_allclose(outputs["raw"], direct["raw"], atol=1e-5, err_msg=signature)
            np.testing.assert_array_equal(outputs["semseg"], direct["semseg"])
        request = serving_requests.grpc_request("single_task", "ctn", image, tasks=[4, 2])
        outputs = serving_requests.grpc_predict(f"localhost:{port}", request)
        expected = _call(served, "single_task", image=image, task=np.array([4, 2], np.int32))
        np.testing.assert_allclose(outputs["normals"], expected["normals"], atol=1e-6)
        assert received == [("ctn", "serving_default"), ("ctn", "encoded_image"), ("ctn", "single_task")]
        bad = serving_requests.grpc_request("serving_default", "ctn", image, palettes=palette + 7)
        with pytest.raises(ValueError, match="(?s)answered INVALID_ARGUMENT: .*must hold task ids"):
            serving_requests.grpc_predict(f"localhost:{port}", bad)
    finally:
        server.stop(None)


@pytest.fixture(scope="module")
def tflite_files(ctn, tmp_path_factory):
    image, palette = random_inputs(4, seed=17)

    def calibration():
        for i in range(4):
            yield {"image": image[i:i + 1], "palette": palette[i:i + 1]}

    out = tmp_path_factory.mktemp("tflite")
    return export_tflite(ctn, str(out), ("fp32", "int8"), representative_dataset=calibration)


def test_tflite_fp32_equals_saved_model(tflite_files, served):
    image, palette = random_inputs(2, seed=18)
    outputs = run_tflite(tflite_files["fp32"], image, palette)
    assert set(outputs) == OUTPUTS
    reference = _call(served, "serving_default", image=image, palette=palette)
    np.testing.assert_allclose(outputs["raw"], reference["raw"], atol=1e-3, rtol=0)
    _assert_decoded(outputs, reference["raw"], palette)


def test_tflite_builtin_ops_and_signature(tflite_files):
    from ai_edge_litert.interpreter import Interpreter

    for quantization, path in tflite_files.items():
        with open(path, "rb") as f:
            names = check_builtin_ops(f.read())
        assert not [n for n in names if n.startswith("Flex")]
        assert "CONV_2D" in names
        runner = Interpreter(model_path=path).get_signature_runner("serving_default")
        inputs = runner.get_input_details()
        assert set(inputs) == {"image", "palette"}
        assert list(inputs["image"]["shape"]) == [1, SIZE, SIZE, 3]
        assert set(runner.get_output_details()) == OUTPUTS
    with open(tflite_files["int8"], "rb") as f:
        assert "QUANTIZE" in op_names(f.read())
    image, palette = random_inputs(2, seed=19)
    outputs = run_tflite(tflite_files["int8"], image, palette)
    assert outputs["semseg"].shape == (2, SIZE, SIZE)
    assert check_quantizations("fp32, int8,fp32") == ("fp32", "int8")
    with pytest.raises(ValueError, match=r"Unknown TFLite quantization \['int4'\]: choose among"):
        check_quantizations(["fp16", "int4"])


def test_tflite_int8_stays_close(ctn, tflite_files):
    # Calibrated on 4 images only, still within a few % of the raw range (an int8
    # ONE_HOT, for one, once put it far off).
    image, palette = random_inputs(2, seed=19)
    raw = keras_raw(ctn, image, palette)
    error = np.abs(run_tflite(tflite_files["int8"], image, palette)["raw"] - raw)
    assert error.mean() < 0.04 * (raw.max() - raw.min())


def test_flex_ops_are_refused(tmp_path):
    class NeedsFlex(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([4], tf.int32)])
        def serving_default(self, x):
            return {"y": tf.bitwise.bitwise_and(x, 6)}  # a TF op TFLite runs only through Flex

    module = NeedsFlex()
    tf.saved_model.save(module, str(tmp_path), signatures={"serving_default": module.serving_default})
    with pytest.raises(ValueError, match="outside the TFLite builtins"):
        convert(str(tmp_path))
    converter = tf.lite.TFLiteConverter.from_saved_model(str(tmp_path))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS, tf.lite.OpsSet.SELECT_TF_OPS]
    with pytest.raises(ValueError, match=r"outside the TFLite builtins: \['FlexBitwiseAnd'\]"):
        check_builtin_ops(converter.convert())


def test_keras_graph_export(ctn, tmp_path):
    # --nofast: the Keras graph itself (what the baselines MHN / MN export through).
    path = export_saved_model(ctn, str(tmp_path / "plain"), version=3, fast=False)
    assert path.endswith(os.path.join("plain", "3")) and sorted(os.listdir(tmp_path / "plain")) == ["3"]
    assert read_export_info(path)["fast_path"] is False
    image, palette = random_inputs(1, seed=20)
    outputs = _call(tf.saved_model.load(path), "serving_default", image=image, palette=palette)
    np.testing.assert_allclose(outputs["raw"], keras_raw(ctn, image, palette), atol=1e-4, rtol=0)
