// Painting the Task Palette on a canvas at the image's own size. Every stroke becomes one
// edit-file shape (brush, rectangle, polygon, fill: ct_keras.palettes.edits); the shapes
// are the work, the canvas only previews them. The server rasterises them for the model
// and its exact palette replaces the preview (`showExact`).

const round = (v) => Math.round(v * 10) / 10;

export class PaletteEditor {
  constructor(canvas, overlay, colours, onChange) {
    this.canvas = canvas;
    this.overlay = overlay;
    this.ctx = canvas.getContext("2d", { willReadFrequently: true });
    this.octx = overlay.getContext("2d");
    this.colours = colours;  // task name → [r, g, b]
    this.onChange = onChange;
    this.task = Object.keys(colours)[0];
    this.tool = "brush";
    this.size = 16;
    this.shapes = [];
    this.undone = [];
    this.base = null;
    this.version = 0;
    this.changedAt = 0;
    this.active = null;  // the shape being drawn
    overlay.addEventListener("pointerdown", (e) => this.down(e));
    overlay.addEventListener("pointermove", (e) => this.move(e));
    overlay.addEventListener("pointerup", (e) => this.up(e));
    overlay.addEventListener("dblclick", (e) => { e.preventDefault(); this.closePolygon(); });
  }

  setSize(width, height) {
    for (const c of [this.canvas, this.overlay]) { c.width = width; c.height = height; }
  }

  colour(task) { return `rgb(${this.colours[task].join(",")})`; }

  // A new starting palette (an <img> of it): the painted shapes start again, or are `shapes`.
  setBase(image, shapes = []) {
    this.base = image;
    this.shapes = shapes.slice();
    this.undone = [];
    this.cancel();
    this.redraw();
    this.changed();
  }

  showExact(image) { this.ctx.drawImage(image, 0, 0); }

  undo() { if (this.shapes.length) { this.undone.push(this.shapes.pop()); this.redraw(); this.changed(); } }
  redo() { if (this.undone.length) { this.shapes.push(this.undone.pop()); this.redraw(); this.changed(); } }

  changed() {
    this.version += 1;
    this.changedAt = performance.now();
    this.onChange();
  }

  commit(shape) {
    this.shapes.push(shape);
    this.undone = [];
    this.changed();
  }

  redraw() {
    this.ctx.clearRect(0, 0, this.canvas.width, this.canvas.height);
    if (this.base) this.ctx.drawImage(this.base, 0, 0);
    for (const shape of this.shapes) this.draw(shape);
  }

  draw(shape) {
    const ctx = this.ctx;
    ctx.fillStyle = ctx.strokeStyle = this.colour(shape.task);
    if (shape.shape === "rectangle") {
      ctx.fillRect(Math.min(shape.x0, shape.x1), Math.min(shape.y0, shape.y1),
                   Math.abs(shape.x1 - shape.x0), Math.abs(shape.y1 - shape.y0));
    } else if (shape.shape === "circle") {
      ctx.beginPath(); ctx.arc(shape.cx, shape.cy, shape.r, 0, 2 * Math.PI); ctx.fill();
    } else if (shape.shape === "polygon") {
      ctx.beginPath();
      shape.points.forEach(([x, y], i) => (i ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
      ctx.closePath(); ctx.fill();
    } else if (shape.shape === "brush") {
      ctx.lineWidth = shape.width; ctx.lineCap = "round"; ctx.lineJoin = "round";
      ctx.beginPath();
      shape.points.forEach(([x, y], i) => (i ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
      if (shape.points.length === 1) ctx.lineTo(shape.points[0][0] + 0.01, shape.points[0][1]);
      ctx.stroke();
    } else if (shape.shape === "fill") {
      this.flood(Math.floor(shape.x), Math.floor(shape.y), this.colours[shape.task]);
    }
  }

  // A preview of the server's fill: the 4-connected region of the clicked pixel's colour.
  flood(x, y, rgb) {
    const { width, height } = this.canvas;
    if (x < 0 || y < 0 || x >= width || y >= height) return;
    const image = this.ctx.getImageData(0, 0, width, height);
    const data = new Uint32Array(image.data.buffer);
    const target = data[y * width + x];
    const paint = new Uint32Array(new Uint8ClampedArray([rgb[0], rgb[1], rgb[2], 255]).buffer)[0];
    if (target === paint) return;
    const stack = [y * width + x];
    while (stack.length) {
      const i = stack.pop();
      if (data[i] !== target) continue;
      data[i] = paint;
      const px = i % width;
      if (px > 0) stack.push(i - 1);
      if (px < width - 1) stack.push(i + 1);
      if (i >= width) stack.push(i - width);
      if (i < width * (height - 1)) stack.push(i + width);
    }
    this.ctx.putImageData(image, 0, 0);
  }

  point(e) {
    const box = this.overlay.getBoundingClientRect();
    return [round((e.clientX - box.left) * this.canvas.width / box.width),
            round((e.clientY - box.top) * this.canvas.height / box.height)];
  }

  down(e) {
    if (!this.base || e.button !== 0) return;
    const p = this.point(e);
    if (this.tool === "fill") {
      const shape = { shape: "fill", task: this.task, x: p[0], y: p[1] };
      this.draw(shape);
      this.commit(shape);
      return;
    }
    if (this.tool === "polygon") {
      if (!this.active) this.active = { shape: "polygon", task: this.task, points: [] };
      const first = this.active.points[0];
      const near = first && Math.hypot(p[0] - first[0], p[1] - first[1]) < 6 * this.scale();
      if (near && this.active.points.length >= 3) this.closePolygon();
      else this.active.points.push(p);
      this.preview(p);
      return;
    }
    this.overlay.setPointerCapture(e.pointerId);
    if (this.tool === "brush") {
      this.active = { shape: "brush", task: this.task, points: [p], width: this.size };
      this.draw(this.active);
    } else {
      this.active = { shape: "rectangle", task: this.task, x0: p[0], y0: p[1], x1: p[0], y1: p[1] };
    }
  }

  scale() { return this.canvas.width / this.overlay.getBoundingClientRect().width; }

  move(e) {
    if (!this.active) return;
    const p = this.point(e);
    const a = this.active;
    if (a.shape === "brush") {
      const last = a.points[a.points.length - 1];
      if (Math.hypot(p[0] - last[0], p[1] - last[1]) < Math.max(1, a.width / 4)) return;
      a.points.push(p);
      this.draw({ ...a, points: [last, p] });
    } else if (a.shape === "rectangle") {
      [a.x1, a.y1] = p;
      this.preview();
    } else {
      this.preview(p);
    }
  }

  up(e) {
    const a = this.active;
    if (!a || a.shape === "polygon") return;
    this.active = null;
    if (a.shape === "rectangle") {
      [a.x1, a.y1] = this.point(e);
      this.octx.clearRect(0, 0, this.overlay.width, this.overlay.height);
      if (Math.abs(a.x1 - a.x0) < 1 || Math.abs(a.y1 - a.y0) < 1) return;
      this.draw(a);
    }
    this.commit(a);
  }

  closePolygon() {
    const a = this.active;
    if (!a || a.shape !== "polygon") return;
    this.cancel();
    if (a.points.length < 3) return;
    this.draw(a);
    this.commit(a);
  }

  cancel() {
    this.active = null;
    this.octx.clearRect(0, 0, this.overlay.width, this.overlay.height);
  }

  // The rubber band of a rectangle or of a polygon's next side, on the overlay.
  preview(cursor) {
    const ctx = this.octx;
    const a = this.active;
    ctx.clearRect(0, 0, this.overlay.width, this.overlay.height);
    if (!a) return;
    ctx.strokeStyle = this.colour(a.task);
    ctx.lineWidth = 2 * this.scale();
    ctx.setLineDash([6 * this.scale(), 4 * this.scale()]);
    ctx.beginPath();
    if (a.shape === "rectangle") {
      ctx.rect(a.x0, a.y0, a.x1 - a.x0, a.y1 - a.y0);
    } else {
      a.points.forEach(([x, y], i) => (i ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
      if (cursor) ctx.lineTo(cursor[0], cursor[1]);
    }
    ctx.stroke();
  }
}
