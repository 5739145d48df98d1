"""Deployment: the exact fast inference path, SavedModel and TFLite exports, requests.

    fast_path          FastCompositeTasking: same outputs, less work (tables, folding)
    folding            the exact algebra behind it (numpy)
    serving_module     ServingModule: the network + decoding + input checks, as a tf.Module
    saved_model        export_saved_model: TF Serving's <dir>/<version>/ layout, atomic
    tflite             export_tflite: builtin ops only, fp32 / fp16 / dynamic_int8 / int8
    user_inputs        images and palettes from users, checked (numpy only)
    serving_requests   TF Serving REST bodies and gRPC requests (REST: numpy only)

Names are imported lazily, so that `user_inputs` and `serving_requests` (used by the
TFLite demo and the serving client) never import TensorFlow.
"""

import importlib

_EXPORTS = {
    "FastCompositeTasking": "fast_path",
    "ServingModule": "serving_module",
    "decode_tensor": "serving_module",
    "export_saved_model": "saved_model",
    "next_version": "saved_model",
    "read_export_info": "user_inputs",
    "read_tflite_info": "user_inputs",
    "QUANTIZATIONS": "tflite",
    "export_tflite": "tflite",
    "representative_inputs": "tflite",
    "run_tflite": "tflite",
    "check_builtin_ops": "tflite",
    "check_image": "user_inputs",
    "check_palette": "user_inputs",
    "load_image": "user_inputs",
    "parse_palette": "user_inputs",
    "rest_body": "serving_requests",
    "grpc_request": "serving_requests",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'ct_keras.deploy' has no attribute {name!r}")
    return getattr(importlib.import_module(f"ct_keras.deploy.{_EXPORTS[name]}"), name)
