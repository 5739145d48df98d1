"""TF Serving requests for an exported CompositeTasking model: REST JSON and gRPC.

REST (`POST /v1/models/<name>[/versions/<v>]:predict`) takes the row format
`{"instances": [{"image": …, "palette": …}, …]}` or the columnar format
`{"inputs": {"image": [...], "palette": [...]}}`; binary inputs (the `encoded_image`
signature's `image_bytes`) travel as `{"b64": "<base64>"}`. The REST side needs
numpy only; gRPC needs `tensorflow-serving-api` (and so TensorFlow).
"""

import base64
import io
import json

import numpy as np

SIGNATURES = ("serving_default", "single_task", "encoded_image", "all_tasks", "predicted_palette")
FORMATS = ("instances", "inputs")


def encode_png(image):
    """PNG bytes of an RGB uint8 `[H, W, 3]` image (lossless, so outputs are unchanged)."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.asarray(image, np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def _image_json(image):
    image = np.asarray(image)
    if image.dtype == np.uint8 or np.all(image == np.round(image)):
        return image.astype(np.int64).tolist()  # integers: half the JSON of floats
    return image.astype(np.float32).tolist()


def request_inputs(signature, images, palettes=None, tasks=None):
    """The per-image input dicts of a request (before JSON encoding).

    Args:
        signature: one of `SIGNATURES`.
        images: `[B, H, W, 3]` RGB 0..255.
        palettes: `[B, H, W]` task ids (`serving_default`, `encoded_image`).
        tasks: `[B]` task ids (`single_task`).
        (`all_tasks` and `predicted_palette` take the image alone; the latter needs an
        export made with a palette network and answers the palette it predicted too.)
    """
    if signature not in SIGNATURES:
        raise ValueError(f"`signature` must be one of {SIGNATURES}. Received {signature!r}")
    images = np.asarray(images)
    rows = []
    for i, image in enumerate(images):
        if signature == "encoded_image":
            row = {"image_bytes": {"b64": base64.b64encode(encode_png(image)).decode("ascii")}}
        else:
            row = {"image": _image_json(image)}
        if signature in ("serving_default", "encoded_image"):
            if palettes is None:
                raise ValueError(f"The {signature} signature needs a palette")
            row["palette"] = np.asarray(palettes[i], np.int64).tolist()
        elif signature == "single_task":
            if tasks is None:
                raise ValueError("The single_task signature needs a task id per image")
            row["task"] = int(tasks[i])
        rows.append(row)
    return rows


def rest_body(signature, images, palettes=None, tasks=None, request_format="instances"):
    """The JSON-ready dict of a REST `:predict` request."""
    if request_format not in FORMATS:
        raise ValueError(f"`request_format` must be one of {FORMATS}. Received {request_format!r}")
    rows = request_inputs(signature, images, palettes, tasks)
    body = {"signature_name": signature}
    if request_format == "instances":
        body["instances"] = rows
    else:
        body["inputs"] = {key: [row[key] for row in rows] for key in rows[0]}
    return body


def rest_url(server, model_name, version=None):
    """`http://host:8501/v1/models/<name>[/versions/<v>]:predict`."""
    server = server.rstrip("/")
    if "://" not in server:
        server = "http://" + server
    version_part = f"/versions/{int(version)}" if version is not None else ""
    return f"{server}/v1/models/{model_name}{version_part}:predict"


def parse_rest_response(response):
    """`{output name: np.ndarray with the batch first}` from a REST response (dict or JSON)."""
    if isinstance(response, (str, bytes)):
        response = json.loads(response)
    if "error" in response:
        raise ValueError(f"TF Serving answered with an error: {response['error']}")
    if "predictions" in response:
        rows = response["predictions"]
        if rows and isinstance(rows[0], dict):
            return {key: np.asarray([row[key] for row in rows]) for key in rows[0]}
        return {"output": np.asarray(rows)}
    if "outputs" in response:
        outputs = response["outputs"]
        if isinstance(outputs, dict):
            return {key: np.asarray(value) for key, value in outputs.items()}
        return {"output": np.asarray(outputs)}
    raise ValueError(f"Not a TF Serving :predict response: keys {sorted(response)}")


def post_rest(url, body, timeout=60):
    """Sends a REST request and parses the answer (urllib, no extra dependency)."""
    import urllib.error
    import urllib.request

    data = json.dumps(body).encode("utf-8")
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return parse_rest_response(answer.read())
    except urllib.error.HTTPError as e:
        detail = e.read().decode("utf-8", "replace")
        try:
            detail = json.loads(detail).get("error", detail)
        except ValueError:
            pass
        raise ValueError(f"TF Serving at {url} answered HTTP {e.code}: {detail}") from None
    except urllib.error.URLError as e:
        raise ValueError(f"Cannot reach TF Serving at {url}: {e.reason}") from None


def _serving_apis():
    try:
        from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc
    except ImportError:
        raise ImportError(
            "gRPC requests need the TF Serving API: pip install tensorflow-serving-api "
            "(or use the REST API, which needs nothing extra)"
        ) from None
    return predict_pb2, prediction_service_pb2_grpc


def grpc_request(signature, model_name, images, palettes=None, tasks=None, version=None):
    """A `tensorflow_serving.apis.predict_pb2.PredictRequest` (needs tensorflow-serving-api)."""
    predict_pb2, _ = _serving_apis()
    import tensorflow as tf

    request = predict_pb2.PredictRequest()
    request.model_spec.name = model_name
    request.model_spec.signature_name = signature
    if version is not None:
        request.model_spec.version.value = int(version)
    images = np.asarray(images)
    if signature == "encoded_image":
        request.inputs["image_bytes"].CopyFrom(
            tf.make_tensor_proto([encode_png(image) for image in images], dtype=tf.string))
    else:
        request.inputs["image"].CopyFrom(tf.make_tensor_proto(images.astype(np.float32)))
    if signature in ("serving_default", "encoded_image"):
        request.inputs["palette"].CopyFrom(tf.make_tensor_proto(np.asarray(palettes, np.int32)))
    elif signature == "single_task":
        request.inputs["task"].CopyFrom(tf.make_tensor_proto(np.asarray(tasks, np.int32)))
    return request


def grpc_predict(address, request, timeout=60):
    """Sends a gRPC `Predict` and returns `{output name: np.ndarray}`."""
    _, prediction_service_pb2_grpc = _serving_apis()
    import grpc
    import tensorflow as tf

    with grpc.insecure_channel(address) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        try:
            response = stub.Predict(request, timeout)
        except grpc.RpcError as e:
            raise ValueError(f"TF Serving at {address} answered {e.code().name}: {e.details()}") from None
    return {key: tf.make_ndarray(value) for key, value in response.outputs.items()}
