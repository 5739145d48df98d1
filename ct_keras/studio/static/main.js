// The page: wires the image, the starting palette, the painting, the prediction and the
// downloads together. The server does the work; this file only says what to ask for.

import * as api from "./api.js";
import { showLegend, taskPicker } from "./legend.js";
import { PaletteEditor } from "./paint.js";
import { showPrediction, showTiming } from "./views.js";

const $ = (id) => document.getElementById(id);
const DEBOUNCE_MS = 120;
const STAGE_SIDE = 512;
const work = { image: null, base: null, spec: null };
const timings = (window.studioLatencies = []);  // stroke → redrawn prediction, ms
let editor;
let rules = [];
let labelRules = [];
let timer = null;
let inFlight = false;
let pending = false;

function say(text, kind = "error") {
  const box = $("message");
  box.textContent = text;
  box.className = kind;
  box.hidden = !text;
}

async function attempt(action) {
  try {
    return await action();
  } catch (e) {
    say(e.message);
    return undefined;
  }
}

const loadImage = (src) => new Promise((resolve, reject) => {
  const image = new Image();
  image.onload = () => resolve(image);
  image.onerror = () => reject(new Error("The browser could not show a picture the server sent"));
  image.src = src;
});

async function openPicture(picture) {
  const photo = await loadImage(api.imageUrl(picture.image));
  const scale = Math.min(STAGE_SIDE / picture.width, STAGE_SIDE / picture.height);
  const stage = $("stage");
  stage.style.width = `${Math.round(picture.width * scale)}px`;
  stage.style.height = `${Math.round(picture.height * scale)}px`;
  $("photo").src = photo.src;
  stage.classList.remove("empty");
  editor.setSize(picture.width, picture.height);
  Object.assign(work, { image: picture.image, name: picture.name, base: null, spec: null });
  $("image-info").textContent = `${picture.name} · ${picture.width} × ${picture.height}`;
  say("");
  clearPrediction(`Predicting ${picture.name}…`);
  const chosen = $("rule").value;
  try {
    await startFromRule(chosen);
  } catch (e) {
    // The chosen start cannot apply to this picture (r2 / r3 need a label): start from one
    // that can, and say so, rather than leave the last picture's prediction on screen.
    const fallback = rules.includes("predicted") && chosen !== "predicted" ? "predicted"
      : rules.find((r) => r !== chosen && !labelRules.includes(r) && r !== "predicted");
    if (!fallback) { clearPrediction(`No prediction of ${picture.name}: ${e.message}`); throw e; }
    $("rule").value = fallback;
    await startFromRule(fallback);
    say(`${e.message}. Started ${picture.name} from ${fallback} instead.`, "note");
  }
}

// The prediction panel never shows a picture other than the one on the canvas: it is
// emptied, with a line saying why, whenever the picture changes or a prediction fails.
function clearPrediction(text) {
  const img = $("prediction");
  img.removeAttribute("src");
  img.hidden = true;
  img.dataset.shows = "";
  $("views").replaceChildren();
  $("legend").replaceChildren();
  $("latency").textContent = "";
  $("prediction-caption").textContent = text;
}

async function useBase(answer, shapes = []) {
  const image = await loadImage(answer.palette);
  Object.assign(work, { base: answer.base, spec: answer.spec });
  editor.setBase(image, shapes);
  $("status").textContent = `starting palette: ${answer.spec}`;
  if (answer.note) say(answer.note, "note");
}

async function startFromRule(spec) {
  if (!work.image) throw new Error("Open an image first");
  await useBase(await api.baseFromRule(work.image, spec));
}

async function readEditFile(file) {
  if (!work.image) throw new Error("Open an image first");
  const edits = await api.readEdits(file);
  const isRule = edits.base && !/\.(png|npy|json|bmp|gif|tiff?|webp)$/i.test(edits.base);
  if (isRule) {
    await useBase(await api.baseFromRule(work.image, edits.base), edits.shapes);
  } else {
    editor.setBase(editor.base, edits.shapes);
    if (edits.base) say(`The edit file's base ${edits.base} is a file: its shapes are painted over ` +
                        `the current palette (${work.spec}); upload ${edits.base} first to start from it`, "note");
  }
  $("status").textContent = `starting palette: ${work.spec} · ${edits.shapes.length} shapes from ${file.name}`;
}

function schedulePredict() {
  clearTimeout(timer);
  timer = setTimeout(runPredict, DEBOUNCE_MS);
}

async function runPredict() {
  if (!work.base) return;
  if (inFlight) { pending = true; return; }
  inFlight = true;
  $("busy").hidden = false;
  const version = editor.version;
  const since = editor.changedAt;
  const { image, base, spec, name } = work;
  const current = () => version === editor.version && image === work.image && base === work.base;
  try {
    const result = await api.predict({ image, base, shapes: editor.shapes });
    if (current()) {
      editor.showExact(await loadImage(result.palette));
      showPrediction($("prediction"), $("views"), result);
      $("prediction").hidden = false;
      $("prediction").dataset.shows = image;
      const shapes = editor.shapes.length ? ` + ${editor.shapes.length} painted shapes` : "";
      $("prediction-caption").textContent = `Prediction of ${name}, palette ${spec}${shapes}`;
      await $("prediction").decode().catch(() => {});
      showLegend($("legend"), result.legend);
      const ms = performance.now() - since;
      timings.push({ ms, ...result.timing });
      showTiming($("latency"), ms, result.timing);
    }
  } catch (e) {
    say(e.message);
    if (current()) clearPrediction(`No prediction of ${name}: ${e.message}`);
  } finally {
    inFlight = false;
    $("busy").hidden = true;
    if (pending || version !== editor.version) { pending = false; schedulePredict(); }
  }
}

function pickTool(tool) {
  editor.cancel();
  editor.tool = tool;
  for (const b of document.querySelectorAll("#tools button")) {
    b.setAttribute("aria-pressed", String(b.dataset.tool === tool));
  }
}

function onFiles(input, action) {
  input.addEventListener("change", () => {
    const [file] = input.files;
    input.value = "";
    if (file) attempt(() => action(file));
  });
}

async function start() {
  const info = await api.info();
  rules = info.rules;
  labelRules = info.label_rules || [];
  $("model-name").textContent = `model ${info.model} (${info.model_size.join(" × ")})` +
    (info.palette_model ? ` · palette network ${info.palette_model}` : "");
  $("rule").replaceChildren(...rules.map((r) => new Option(r, r)));
  $("rule").value = rules.includes("predicted") ? "predicted" : rules[0];
  const colours = Object.fromEntries(info.tasks.map((t) => [t.name, t.colour]));
  editor = new PaletteEditor($("palette"), $("overlay"), colours, schedulePredict);
  const pickTask = taskPicker($("tasks"), info.tasks, (name) => { editor.task = name; });
  $("image-file").parentElement.title = `pictures of ${info.limits.text}`;
  $("image-info").textContent = `or drop a picture on the canvas (${info.limits.text})`;

  onFiles($("image-file"), async (file) => openPicture(await api.uploadImage(file)));
  onFiles($("palette-file"), async (file) => {
    if (!work.image) throw new Error("Open an image first");
    await useBase(await api.baseFromFile(work.image, file));
  });
  onFiles($("edits-file"), readEditFile);
  let seed = 0;
  $("sample").addEventListener("click", () => attempt(async () => openPicture(await api.sample(seed++))));
  $("apply-rule").addEventListener("click", () => attempt(() => startFromRule($("rule").value)));
  for (const b of document.querySelectorAll("#tools button")) {
    b.addEventListener("click", () => pickTool(b.dataset.tool));
  }
  const size = $("brush-size");
  size.addEventListener("input", () => { editor.size = Number(size.value); $("brush-size-value").value = size.value; });
  const opacity = $("opacity");
  const setOpacity = () => { $("palette").style.opacity = String(opacity.value / 100); };
  opacity.addEventListener("input", setOpacity);
  setOpacity();
  $("undo").addEventListener("click", () => editor.undo());
  $("redo").addEventListener("click", () => editor.redo());
  for (const b of document.querySelectorAll("[data-download]")) {
    b.addEventListener("click", () => attempt(async () => {
      if (!work.base) throw new Error("Open an image first");
      await api.download(b.dataset.download, { image: work.image, base: work.base, shapes: editor.shapes },
                         b.dataset.download);
    }));
  }
  document.addEventListener("keydown", (e) => {
    if (e.target instanceof HTMLInputElement || e.target instanceof HTMLSelectElement) return;
    const key = e.key.toLowerCase();
    if ((e.ctrlKey || e.metaKey) && key === "z") { e.preventDefault(); e.shiftKey ? editor.redo() : editor.undo(); }
    else if ((e.ctrlKey || e.metaKey) && key === "y") { e.preventDefault(); editor.redo(); }
    else if (e.key === "Enter") editor.closePolygon();
    else if (e.key === "Escape") editor.cancel();
    else if (/^[1-5]$/.test(e.key)) pickTask(info.tasks[Number(e.key) - 1].name);
  });
  const stage = $("stage");
  stage.addEventListener("dragover", (e) => { e.preventDefault(); stage.classList.add("dragging"); });
  stage.addEventListener("dragleave", () => stage.classList.remove("dragging"));
  stage.addEventListener("drop", (e) => {
    e.preventDefault();
    stage.classList.remove("dragging");
    const [file] = e.dataTransfer.files;
    if (file) attempt(async () => openPicture(await api.uploadImage(file)));
  });
  document.body.dataset.ready = "true";
}

start().catch((e) => say(`The studio could not start: ${e.message}`));
