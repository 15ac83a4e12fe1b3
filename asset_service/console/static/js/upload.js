// Uploads through tus (tus-js-client, vendored): several files at once, each with a progress
// row (speed, time left) that stays, with its final state, until dismissed. tus-js-client
// remembers each upload's URL by the file's fingerprint, so choosing the same file again after
// a reload or a dropped network resumes it where the service's offset says it stopped.

import { authHeaders } from "./api.js";
import { $, formatBytes, formatDuration, h } from "./dom.js";
import { state } from "./state.js";

const CHUNK_SIZE = 1024 * 1024;
const rows = new Map(); // key → row (ours by file, others' by upload id)
const ownUploadIds = new Set();
let onCreated = () => {};

export function onUploadCreated(handler) {
  onCreated = handler;
}

function uploadIdOf(url) {
  return url ? url.replace(/\/+$/, "").split("/").pop() : null;
}

function panel() {
  $("#uploads").hidden = rows.size === 0;
}

function makeRow(key, name, origin) {
  const progress = h("progress", { max: "100", value: "0", "aria-label": `Upload of ${name}` });
  const status = h("div", { class: "status", "aria-live": "polite" }, "starting…");
  const dismiss = h("button", {
    type: "button", class: "ghost small", "aria-label": `Dismiss ${name}`,
    onclick: () => {
      if (row.upload && row.node.dataset.state === "uploading") row.upload.abort(false).catch(() => {});
      row.node.remove();
      rows.delete(key);
      panel();
    },
  }, "×");
  const node = h("li", { class: "upload", testid: "upload-progress", dataset: { state: "uploading", origin } },
    h("span", { class: "file", title: name }, name), dismiss, progress, status);
  const row = { node, progress, status, upload: null, started: performance.now(), startBytes: 0 };
  rows.set(key, row);
  $("#upload-list").prepend(node);
  panel();
  return row;
}

function setProgress(row, sent, total) {
  const percent = total ? Math.floor((sent / total) * 100) : 0;
  row.progress.value = percent;
  const seconds = (performance.now() - row.started) / 1000;
  const speed = seconds > 0.2 ? (sent - row.startBytes) / seconds : 0;
  const left = speed > 0 ? (total - sent) / speed : NaN;
  const parts = [`${percent}%`, `${formatBytes(sent)} of ${formatBytes(total)}`];
  if (speed > 0) parts.push(`${formatBytes(speed)}/s`);
  if (Number.isFinite(left) && sent < total) parts.push(`${formatDuration(left)} left`);
  row.status.textContent = parts.join(" · ");
}

function finish(row, stateName, text) {
  row.node.dataset.state = stateName;
  row.status.textContent = text;
  if (stateName === "done") row.progress.value = 100;
}

/** The problem document's detail of a refused tus request, else the error's own message. */
function reasonOf(error) {
  const response = error?.originalResponse;
  if (response) {
    try {
      const problem = JSON.parse(response.getBody());
      if (problem.detail || problem.title) return problem.detail || problem.title;
    } catch {
      // not a problem document
    }
    return `refused (HTTP ${response.getStatus()})`;
  }
  return error?.message || String(error);
}

function metadataFor(file) {
  const metadata = { filename: file.name, filetype: file.type || "application/octet-stream" };
  const folder = $("#upload-folder").value.trim() || state.filters.folder || "/";
  if (folder) metadata.folder = folder;
  const tags = $("#upload-tags").value.trim();
  if (tags) metadata.tags = tags;
  // in a type's tab, the file is declared of that type (the service checks the bytes agree)
  if (state.filters.type) metadata.type = state.filters.type;
  return metadata;
}

export function startUploads(files) {
  if (!window.tus) throw new Error("the upload library did not load");
  for (const file of files) startUpload(file);
}

function startUpload(file) {
  const key = `file:${file.name}:${file.size}:${file.lastModified}:${performance.now()}`;
  const row = makeRow(key, file.name, "local");
  const upload = new window.tus.Upload(file, {
    endpoint: "/api/uploads/",
    headers: authHeaders(),
    metadata: metadataFor(file),
    chunkSize: CHUNK_SIZE,
    retryDelays: [0, 1000, 3000, 5000],
    storeFingerprintForResuming: true,
    removeFingerprintOnSuccess: true,
    onProgress: (sent, total) => setProgress(row, sent, total),
    onError: (error) => {
      finish(row, "failed", `Failed: ${reasonOf(error)}`);
      // a refusal is final: choosing the file again starts afresh (a network error keeps it)
      if (error?.originalResponse) forgetStored(upload);
    },
    onSuccess: ({ lastResponse }) => {
      const assetId = lastResponse?.getHeader("Asset-Id");
      finish(row, "done", `Done · ${formatBytes(file.size)}`);
      if (assetId) {
        row.node.dataset.assetId = assetId;
        onCreated(assetId);
      }
    },
    onAfterResponse: (request, response) => {
      // (on the creation's answer `upload.url` is not set yet: its Location is the URL)
      const id = uploadIdOf(response.getHeader("Location") || upload.url);
      if (id) ownUploadIds.add(id);
    },
  });
  row.upload = upload;
  upload.findPreviousUploads().then((previous) => {
    if (previous.length) {
      upload.resumeFromPreviousUpload(previous[0]);
      ownUploadIds.add(uploadIdOf(previous[0].uploadUrl));
      row.status.textContent = "resuming…";
    }
    upload.start();
  }).catch((error) => finish(row, "failed", `Failed: ${reasonOf(error)}`));
}

async function forgetStored(upload) {
  try {
    const storage = upload.options.urlStorage;
    const fingerprint = await upload.options.fingerprint(upload.file, upload.options);
    for (const entry of await storage.findUploadsByFingerprint(fingerprint)) {
      await storage.removeUpload(entry.urlStorageKey);
    }
  } catch {
    // nothing stored, or no storage: nothing to forget
  }
}

/** Uploads of this browser a reload interrupted: offered for resuming (the file has to be
 * chosen again — a page cannot reopen a file by itself). */
export async function showInterrupted() {
  if (!window.tus?.defaultOptions?.urlStorage) return;
  let previous = [];
  try {
    previous = await window.tus.defaultOptions.urlStorage.findAllUploads();
  } catch {
    return;
  }
  for (const entry of previous) {
    const name = entry.metadata?.filename || "a file";
    const key = `interrupted:${entry.urlStorageKey}`;
    if (rows.has(key)) continue;
    const row = makeRow(key, name, "local");
    ownUploadIds.add(uploadIdOf(entry.uploadUrl));
    finish(row, "paused", `Interrupted: choose ${name} again to resume where it stopped`);
  }
}

/** Resuming a file drops its "interrupted" row. */
function forgetInterrupted(file) {
  for (const [key, row] of rows) {
    if (key.startsWith("interrupted:") && row.node.querySelector(".file").textContent === file.name) {
      row.node.remove();
      rows.delete(key);
    }
  }
}

/** `upload.progress` events of uploads not started on this page (another tab, another
 * client): shown too, so the page tells what is arriving. */
export function remoteProgress(data) {
  if (!data?.upload_id || ownUploadIds.has(data.upload_id)) return;
  const key = `remote:${data.upload_id}`;
  const final = ["committed", "failed", "aborted", "terminated"].includes(data.state);
  // an upload first heard of once finished gets no row: its asset shows in the grid
  if (!rows.has(key) && final) return;
  const row = rows.get(key) || makeRow(key, `Upload ${data.upload_id.slice(0, 8)} (elsewhere)`, "remote");
  if (data.state === "committed") finish(row, "done", "Done (elsewhere)");
  else if (["failed", "aborted", "terminated"].includes(data.state)) finish(row, "failed", "Failed (elsewhere)");
  else setProgress(row, data.received_bytes || 0, data.total_bytes || 0);
}

export function setupUploads() {
  const input = $("#upload-input");
  input.addEventListener("change", () => {
    const files = [...input.files];
    input.value = "";
    files.forEach(forgetInterrupted);
    startUploads(files);
  });
  const zone = $("#drop-zone");
  let depth = 0;
  zone.addEventListener("dragenter", (event) => {
    if (!state.canWrite || !event.dataTransfer?.types?.includes("Files")) return;
    event.preventDefault();
    depth += 1;
    zone.classList.add("dragging");
  });
  zone.addEventListener("dragover", (event) => {
    if (state.canWrite && event.dataTransfer?.types?.includes("Files")) event.preventDefault();
  });
  zone.addEventListener("dragleave", () => {
    depth = Math.max(0, depth - 1);
    if (!depth) zone.classList.remove("dragging");
  });
  zone.addEventListener("drop", (event) => {
    depth = 0;
    zone.classList.remove("dragging");
    if (!state.canWrite) return;
    event.preventDefault();
    const files = [...(event.dataTransfer?.files || [])];
    files.forEach(forgetInterrupted);
    startUploads(files);
  });
  $("#uploads-clear").addEventListener("click", () => {
    for (const [key, row] of rows) {
      if (row.node.dataset.state !== "uploading") {
        row.node.remove();
        rows.delete(key);
      }
    }
    panel();
  });
}
