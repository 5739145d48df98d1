// Showing a prediction: the composite picture and one view per task of the palette.

export function showPrediction(img, container, result) {
  img.src = result.prediction;
  img.dataset.version = String(Number(img.dataset.version || 0) + 1);
  container.replaceChildren(...result.views.map((view) => {
    const figure = document.createElement("figure");
    figure.dataset.task = view.task;
    const picture = document.createElement("img");
    picture.src = view.picture;
    picture.alt = view.title;
    const caption = document.createElement("figcaption");
    caption.textContent = `${view.title} · ${(100 * view.share).toFixed(1)} % of pixels`;
    figure.append(picture, caption);
    return figure;
  }));
}

export function showTiming(element, strokeToView, timing) {
  const server = timing.palette_ms + timing.inference_ms + timing.outputs_ms + timing.encode_ms;
  element.textContent = `stroke → prediction ${strokeToView.toFixed(0)} ms ` +
    `(network ${timing.inference_ms.toFixed(0)} ms, outputs ${timing.outputs_ms.toFixed(0)} ms, ` +
    `palette ${timing.palette_ms.toFixed(0)} ms, pictures ${timing.encode_ms.toFixed(0)} ms; ` +
    `server ${server.toFixed(0)} ms)`;
}
