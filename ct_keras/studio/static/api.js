// Talking to the studio's server: every call returns parsed JSON or throws an Error whose
// message is the server's own ("error" field), so the page can show it as it is.

async function answer(response, asBlob = false) {
  const type = response.headers.get("content-type") || "";
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    if (type.includes("json")) {
      const body = await response.json();
      if (body.error) message = body.error;
    }
    throw new Error(message);
  }
  return asBlob || !type.includes("json") ? response.blob() : response.json();
}

async function call(path, options = {}) {
  let response;
  try {
    response = await fetch(path, options);
  } catch (e) {
    throw new Error(`The studio's server cannot be reached (${e.message}): is tools/studio.py still running?`);
  }
  return answer(response);
}

function postJson(path, body) {
  return call(path, { method: "POST", headers: { "Content-Type": "application/json" },
                      body: JSON.stringify(body) });
}

function postForm(path, fields) {
  const form = new FormData();
  for (const [key, value] of Object.entries(fields)) form.append(key, value);
  return call(path, { method: "POST", body: form });
}

export const info = () => call("/api/info");
export const uploadImage = (file) => postForm("/api/image", { file });
export const sample = (seed) => postJson("/api/sample", { seed });
export const imageUrl = (id) => `/api/image/${encodeURIComponent(id)}`;
export const baseFromRule = (image, spec) => postForm("/api/base", { image, spec });
export const baseFromFile = (image, file) => postForm("/api/base", { image, file });
export const readEdits = (file) => postForm("/api/edits", { file });
export const predict = (work) => postJson("/api/predict", work);

// Asks for a file and hands it to the browser as a download.
export async function download(what, work, name) {
  let response;
  try {
    response = await fetch(`/api/download/${what}`, {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(work) });
  } catch (e) {
    throw new Error(`The studio's server cannot be reached (${e.message}): is tools/studio.py still running?`);
  }
  const blob = await answer(response, true);
  const disposition = response.headers.get("content-disposition") || "";
  const match = /filename="([^"]+)"/.exec(disposition);
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = match ? match[1] : name;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 10000);
}
