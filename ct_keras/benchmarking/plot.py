"""The PNG of images/s per model and path (PIL only): one panel per workload, one bar
per batch size, a whisker for the min–max of the runs, the authors' model on top."""

from PIL import Image, ImageDraw, ImageFont

COLOURS = [(66, 120, 200), (230, 140, 40), (90, 170, 90), (180, 70, 160)]
ROW, LABEL_W, PANEL_W, MARGIN = 18, 210, 380, 12


def _rows(report, workload):
    rows = []
    ref = report.get("reference", {})
    if ref.get("status") == "ok" and workload == "composite":
        r = ref["results"]
        rows.append((f"authors' PyTorch CTN (b{r['batch_size']})", {r["batch_size"]: r["reference"]}, ""))
        rows += [(f"CTN {name} (same run)", {r["batch_size"]: t},
                  f" = {t['speedup_vs_reference']:.1f}x") for name, t in r["ours"].items()]
    for kind, by_path in report["inference"].items():
        for path, res in by_path.items():
            if res["status"] == "ok" and workload in res["results"]:
                rows.append((f"{kind.upper()} {path}",
                             {int(b): t for b, t in res["results"][workload].items()}, ""))
    return rows


def draw(report, out_path):
    workloads = ("composite", "all")
    batches = sorted({b for w in workloads for _, d, _ in _rows(report, w) for b in d})
    panels = [_rows(report, w) for w in workloads]
    n = max(1, max(len(p) for p in panels))
    height = MARGIN * 4 + 30 + n * ROW * max(1, len(batches)) + 30
    width = MARGIN + 2 * (LABEL_W + PANEL_W + MARGIN)
    img = Image.new("RGB", (width, height), "white")
    d = ImageDraw.Draw(img)
    font = ImageFont.load_default()
    for i, (workload, rows) in enumerate(zip(workloads, panels)):
        x0 = MARGIN + i * (LABEL_W + PANEL_W + MARGIN) + LABEL_W
        title = {"composite": "composite palette (R1r)", "all": "all five tasks everywhere"}[workload]
        d.text((x0 - LABEL_W, MARGIN), f"images/s, {title}", fill="black", font=font)
        top = MARGIN + 24
        peak = max([t["max"] for _, by, _ in rows for t in by.values()] or [1.0])
        scale = (PANEL_W - 90) / peak
        y = top
        for label, by_batch, suffix in rows:
            d.text((x0 - LABEL_W, y + 2), label[:32], fill="black", font=font)
            for j, b in enumerate(batches):
                if b in by_batch:
                    t = by_batch[b]
                    colour = COLOURS[j % len(COLOURS)]
                    d.rectangle([x0, y + 2, x0 + t["images_per_s"] * scale, y + ROW - 3], fill=colour)
                    yc = y + ROW // 2
                    d.line([x0 + t["min"] * scale, yc, x0 + t["max"] * scale, yc], fill="black")
                    d.text((x0 + t["max"] * scale + 4, y + 2), f"{t['images_per_s']:.3g}{suffix}", fill="black",
                           font=font)
                y += ROW
        d.line([x0, top, x0, y], fill="black")
    legend_y = height - 22
    for j, b in enumerate(batches):
        x = MARGIN + j * 110
        d.rectangle([x, legend_y, x + 12, legend_y + 12], fill=COLOURS[j % len(COLOURS)])
        d.text((x + 16, legend_y), f"batch {b}", fill="black", font=font)
    d.text((MARGIN + len(batches) * 110, legend_y),
           "bar = median, line = min-max of the runs", fill="black", font=font)
    img.save(out_path)
    return out_path
