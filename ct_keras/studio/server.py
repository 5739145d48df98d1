"""The studio's web server (Starlette): each endpoint parses, calls `Studio`, returns.

    GET  /                       the page (static files of `ct_keras/studio/static/`)
    GET  /api/info               model, rules, task legend colours, upload limits
    POST /api/image              multipart `file`: a picture → {image, name, width, height}
    POST /api/sample             {"seed": n}: a synthetic scene → the same
    GET  /api/image/{id}         the decoded picture as PNG (upright, RGB)
    POST /api/base               multipart `image` and `spec` (a rule) or `file` (a palette file)
                                 → {base, spec, palette (PNG data URL), note}
    POST /api/edits              multipart `file`: an edit file → {base, shapes}
    POST /api/predict            {"image", "base", "shapes"} → palette, prediction, views, legend
    POST /api/download/{what}    the same body → palette.png, edits.json, outputs.npz, figure.png

Bad input answers 4xx with `{"error": message}` (413 over the size caps, 404 for a
forgotten id); a failure inside answers 500 with the message, never a traceback.
"""

import json
import logging
import os
import time

try:
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.datastructures import UploadFile
    from starlette.exceptions import HTTPException
    from starlette.responses import FileResponse, JSONResponse, Response
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles
except ImportError as e:  # the [studio] extra
    raise ImportError(f"The palette studio needs Starlette: pip install -e '.[studio]' ({e})") from None

from ct_keras.studio import views
from ct_keras.studio.uploads import MAX_BYTES, TooLarge, read_edits_upload

STATIC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
DOWNLOADS = {"palette.png": "image/png", "edits.json": "application/json",
             "outputs.npz": "application/octet-stream", "figure.png": "image/png"}
LOG = logging.getLogger("ct_keras.studio")


def _error(status, message):
    return JSONResponse({"error": message}, status_code=status)


async def _form(request):
    size = request.headers.get("content-length")
    if size is not None and size.isdigit() and int(size) > MAX_BYTES + 64 * 1024:
        raise TooLarge(f"The upload is {int(size) / 1e6:.1f} MB: at most {MAX_BYTES // (1024 * 1024)} MB")
    try:
        return await request.form(max_files=1, max_fields=8)
    except HTTPException as e:
        raise ValueError(f"Cannot read the form: {e.detail}") from None


async def _file(form, field="file"):
    upload = form.get(field)
    if not isinstance(upload, UploadFile):
        raise ValueError(f"Expected a file in the form field {field!r}")
    return await upload.read(MAX_BYTES + 1), upload.filename or "upload"


async def _json(request):
    try:
        body = json.loads(await request.body())
    except (UnicodeDecodeError, ValueError) as e:
        raise ValueError(f"The request body is not JSON: {e}") from None
    if not isinstance(body, dict):
        raise ValueError("The request body must be a JSON object")
    return body


def _field(body, name, kind=str):
    if name not in body:
        raise ValueError(f"Missing field {name!r}")
    if not isinstance(body[name], kind):
        raise ValueError(f"Field {name!r} must be a {kind.__name__}. Received {body[name]!r}")
    return body[name]


def _picture_json(studio, image_id):
    picture = studio.picture(image_id)
    height, width = picture.image.shape[:2]
    return {"image": image_id, "name": picture.name, "width": width, "height": height,
            "has_label": picture.label is not None}


def _shape_json(shape):
    out = {"shape": shape["shape"], "task": views.TASK_NAMES[shape["task"]]}
    for key, value in shape.items():
        if key not in out:
            out[key] = value.tolist() if hasattr(value, "tolist") else value
    return out


def create_app(studio):
    """The Starlette app of a `Studio`."""

    async def index(request):
        return FileResponse(os.path.join(STATIC, "index.html"))

    async def info(request):
        return JSONResponse(studio.info())

    async def image(request):
        data, name = await _file(await _form(request))
        image_id = await run_in_threadpool(studio.add_upload, data, name)
        return JSONResponse(_picture_json(studio, image_id))

    async def sample(request):
        body = await _json(request)
        image_id = await run_in_threadpool(studio.add_sample, body.get("seed", 0))
        return JSONResponse(_picture_json(studio, image_id))

    async def image_png(request):
        picture = studio.picture(request.path_params["image_id"])
        png = await run_in_threadpool(views.png_bytes, picture.image)
        return Response(png, media_type="image/png")

    async def base(request):
        form = await _form(request)
        image_id = form.get("image")
        if not isinstance(image_id, str):
            raise ValueError("Expected the image id in the form field 'image'")
        if isinstance(form.get("file"), UploadFile):
            data, name = await _file(form)
            base_id = await run_in_threadpool(studio.add_base_upload, image_id, data, name)
        elif isinstance(form.get("spec"), str):
            base_id = await run_in_threadpool(studio.add_base_rule, image_id, form["spec"])
        else:
            raise ValueError("Give a palette rule (field 'spec') or a palette file (field 'file')")
        made = studio.base(base_id)
        png = await run_in_threadpool(views.palette_png_bytes, made.palette)
        return JSONResponse({"base": base_id, "spec": made.spec, "palette": views.data_url(png),
                             "note": made.note})

    async def edits(request):
        data, name = await _file(await _form(request))
        parsed = await run_in_threadpool(read_edits_upload, data, name)
        return JSONResponse({"base": parsed.base, "shapes": [_shape_json(s) for s in parsed.shapes]})

    def _work(body):
        image_id, base_id = _field(body, "image"), _field(body, "base")
        shapes = _field(body, "shapes", list)
        start = time.perf_counter()
        palette = studio.palette(image_id, base_id, shapes)
        painted = time.perf_counter()
        outputs, seconds = studio.predict(image_id, palette)
        total = time.perf_counter() - painted
        return image_id, base_id, shapes, palette, outputs, {
            "palette_ms": 1000 * (painted - start), "inference_ms": 1000 * seconds,
            "outputs_ms": 1000 * (total - seconds)}

    def _predict(body):
        image_id, _, _, palette, outputs, timing = _work(body)
        start = time.perf_counter()
        result = views.live_views(studio.picture(image_id).image, palette, outputs,
                                  studio.predictor.anchors)
        timing["encode_ms"] = 1000 * (time.perf_counter() - start)
        result["timing"] = timing
        return result

    async def predict(request):
        return JSONResponse(await run_in_threadpool(_predict, await _json(request)))

    def _download(what, body):
        if what == "edits.json":
            edit_file = studio.edit_file(_field(body, "image"), _field(body, "base"),
                                         _field(body, "shapes", list))
            return json.dumps(edit_file, indent=1).encode()
        if what == "palette.png":
            return views.palette_png_bytes(studio.palette(_field(body, "image"), _field(body, "base"),
                                                          _field(body, "shapes", list)))
        image_id, base_id, shapes, palette, outputs, _ = _work(body)
        if what == "outputs.npz":
            return views.npz_bytes(palette, outputs)
        made = studio.base(base_id)
        return views.figure_png(studio.picture(image_id).image, palette, outputs, made.palette,
                                studio.base_outputs(made) if shapes else None, studio.predictor.anchors)

    async def download(request):
        what = request.path_params["what"]
        if what not in DOWNLOADS:
            return _error(404, f"No download {what!r}: use one of {sorted(DOWNLOADS)}")
        body = await _json(request)
        data = await run_in_threadpool(_download, what, body)
        stem = os.path.splitext(studio.picture(body["image"]).name)[0]
        suffix = what.split(".")[0]
        name = f"{stem}_{suffix}.{what.split('.')[1]}" if suffix != "edits" else f"{stem}_edits.json"
        return Response(data, media_type=DOWNLOADS[what],
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})

    async def too_large(request, exc):
        return _error(413, str(exc))

    async def bad_input(request, exc):
        return _error(400, str(exc))

    async def not_found(request, exc):
        return _error(404, str(exc))

    async def http_error(request, exc):
        return _error(exc.status_code, str(exc.detail))

    async def failure(request, exc):
        LOG.exception("studio request %s failed", request.url.path)
        return _error(500, f"The studio failed on this request ({type(exc).__name__}: {exc})")

    routes = [
        Route("/", index),
        Route("/api/info", info),
        Route("/api/image", image, methods=["POST"]),
        Route("/api/sample", sample, methods=["POST"]),
        Route("/api/image/{image_id}", image_png),
        Route("/api/base", base, methods=["POST"]),
        Route("/api/edits", edits, methods=["POST"]),
        Route("/api/predict", predict, methods=["POST"]),
        Route("/api/download/{what}", download, methods=["POST"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    return Starlette(routes=routes, exception_handlers={
        TooLarge: too_large, ValueError: bad_input, FileNotFoundError: not_found,
        HTTPException: http_error, Exception: failure})
