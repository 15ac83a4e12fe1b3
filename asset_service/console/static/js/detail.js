// One asset: every field of its record, a player or viewer fed by a signed link, the edit
// form (If-Match: a change made meanwhile is a clear message, never a silent overwrite),
// versions with download and restore, a new version, a signed link to copy, delete.

import { api, apiResponse, signedLink } from "./api.js";
import {
  $, clear, dimensionsOf, formatBytes, formatDuration, formatTime, h, showMessage, titleOf,
} from "./dom.js";
import { readyPreview } from "./library.js";
import { state } from "./state.js";

const dialog = () => $("#detail");
const body = () => $("#detail-body");
let current = null; // {asset, etag}
let hooks = { changed: () => {}, deleted: () => {}, closed: () => {} };

export function setupDetail(handlers) {
  hooks = { ...hooks, ...handlers };
  dialog().addEventListener("close", () => {
    // stop playback and forget the links
    clear(body());
    const id = current?.asset.asset_id;
    current = null;
    hooks.closed(id);
  });
  dialog().addEventListener("click", (event) => {
    if (event.target === dialog()) dialog().close(); // a click on the backdrop
  });
}

export function openAssetId() {
  return current?.asset.asset_id || null;
}

export async function openDetail(assetId) {
  const response = await apiResponse(`/api/assets/${encodeURIComponent(assetId)}`);
  const asset = await response.json();
  current = { asset, etag: response.headers.get("ETag") };
  render();
  if (!dialog().open) dialog().showModal();
  $("#detail-close")?.focus();
}

export function closeDetail() {
  if (dialog().open) dialog().close();
}

/** A live event about the open asset: its record is refreshed unless the user is editing. */
export async function assetChanged(assetId) {
  if (current?.asset.asset_id !== assetId) return;
  const form = $("#edit-form");
  if (form?.dataset.dirty === "true") return;
  await reload();
}

async function reload() {
  if (!current) return;
  const response = await apiResponse(`/api/assets/${current.asset.asset_id}`);
  const fresh = await response.json();
  const before = current.asset;
  current = { asset: fresh, etag: response.headers.get("ETag") };
  if (fresh.revision === before.revision && fresh.current_version === before.current_version) {
    // Only derived data changed (a preview became ready): the player keeps playing where
    // the user is; a waveform that is new is drawn above it.
    addWaveformIfNew(before, fresh);
    return;
  }
  render();
}

function addWaveformIfNew(before, fresh) {
  const player = document.querySelector("#viewer audio");
  if (!player || readyPreview(before, ["waveform"]) || !readyPreview(fresh, ["waveform"])) return;
  const canvas = h("canvas", { class: "waveform", width: "800", height: "64", "aria-hidden": "true" });
  player.before(canvas);
  drawWaveform(fresh, canvas);
}

function errorSlot() {
  return $("#detail-error");
}

function guard(task) {
  return async (event) => {
    event?.preventDefault?.();
    try {
      await task(event);
    } catch (error) {
      showMessage(errorSlot(), error.message);
    }
  };
}

function render() {
  const { asset } = current;
  const root = clear(body());
  root.append(
    h("div", { class: "detail-head" },
      h("h2", { id: "detail-title" }, titleOf(asset)),
      h("span", { class: `type type-${asset.type} badge` }, asset.type),
      h("button", { type: "button", class: "ghost", id: "detail-close", "aria-label": "Close",
        onclick: () => dialog().close() }, "Close ✕")),
    h("div", { class: "detail-main" },
      h("div", {},
        h("div", { id: "detail-error", class: "error-slot" }),
        viewer(asset),
        actions(asset),
        h("div", { id: "link-box", class: "link-box" }),
        summary(asset),
        fieldsPanel(asset)),
      h("div", {},
        state.canWrite ? editForm(asset) : "",
        versionsPanel(asset))),
  );
}

// --- viewing -----------------------------------------------------------------------------------

function viewer(asset) {
  const box = h("div", { class: "viewer", id: "viewer" }, h("p", { class: "placeholder" }, "Loading…"));
  const base = asset.mime_type.split(";")[0].trim().toLowerCase();
  signedLink(asset.asset_id).then((url) => {
    clear(box);
    if (asset.type === "audio" || base.startsWith("audio/")) {
      const waveform = readyPreview(asset, ["waveform"]) ? h("canvas", { class: "waveform", width: "800", height: "64", "aria-hidden": "true" }) : null;
      if (waveform) drawWaveform(asset, waveform);
      box.append(waveform || "", h("audio", { controls: true, preload: "metadata", src: url, testid: "media-player",
        "aria-label": `Play ${titleOf(asset)}` }));
    } else if (asset.type === "video" || base.startsWith("video/")) {
      box.append(h("video", { controls: true, preload: "metadata", src: url, testid: "media-player",
        "aria-label": `Play ${titleOf(asset)}` }));
    } else if (base.startsWith("image/") && base !== "image/svg+xml") {
      box.classList.add("light");
      box.append(h("img", { class: "full", src: url, alt: titleOf(asset) }));
    } else if (base === "application/pdf") {
      box.classList.add("light");
      box.append(h("iframe", { src: url, title: `PDF: ${titleOf(asset)}`, testid: "pdf-viewer" }));
    } else {
      box.classList.add("light");
      box.append(h("p", { class: "placeholder" }, `No preview for ${base}: use Download.`));
    }
  }).catch((error) => {
    clear(box).append(h("p", { class: "placeholder" }, error.message));
  });
  return box;
}

async function drawWaveform(asset, canvas) {
  try {
    const data = await api(`/api/assets/${asset.asset_id}/previews/waveform`);
    const peaks = Array.isArray(data) ? data : data.peaks || data.data || [];
    const context = canvas.getContext("2d");
    const { width, height } = canvas;
    context.fillStyle = "#8fb0ee";
    const step = width / Math.max(peaks.length, 1);
    peaks.forEach((peak, i) => {
      const value = Math.min(1, Math.abs(Array.isArray(peak) ? Math.max(...peak.map(Math.abs)) : peak));
      const bar = Math.max(1, value * height);
      context.fillRect(i * step, (height - bar) / 2, Math.max(1, step - 0.5), bar);
    });
  } catch {
    canvas.remove(); // no waveform: the player alone
  }
}

function actions(asset) {
  const row = h("div", { class: "actions" },
    h("button", { type: "button", class: "secondary", onclick: guard(() => download(asset.asset_id)) }, "Download"),
    h("button", { type: "button", class: "secondary", id: "copy-link", onclick: guard(() => copyLink(asset)) }, "Copy signed link"));
  if (state.canWrite) {
    row.append(h("button", { type: "button", class: "danger", testid: "delete",
      onclick: guard(() => remove(asset)) }, "Delete"));
  }
  return row;
}

async function download(assetId, version) {
  const url = await signedLink(assetId, { version, inline: false });
  const link = h("a", { href: url, download: "", class: "visually-hidden" });
  document.body.append(link);
  link.click();
  link.remove();
}

async function copyLink(asset) {
  const url = await signedLink(asset.asset_id, { inline: false });
  const box = clear($("#link-box"));
  const input = h("input", { value: url, readonly: true, "aria-label": "Signed link", id: "signed-link" });
  box.append(h("label", { for: "signed-link" }, "Signed link (valid for an hour)"), input);
  try {
    await navigator.clipboard.writeText(url);
    showMessage(errorSlot(), "Signed link copied to the clipboard.", { kind: "notice" });
  } catch {
    input.select(); // no clipboard permission: the link is there to copy by hand
  }
}

async function remove(asset) {
  await api(`/api/assets/${asset.asset_id}`, { method: "DELETE" });
  dialog().close();
  hooks.deleted(asset);
}

// --- fields ------------------------------------------------------------------------------------

function fieldRows(value, prefix, rows) {
  if (value && typeof value === "object" && !Array.isArray(value)) {
    const keys = Object.keys(value);
    if (!keys.length) rows.push([prefix, "—"]);
    for (const key of keys) fieldRows(value[key], prefix ? `${prefix}.${key}` : key, rows);
  } else if (Array.isArray(value)) {
    rows.push([prefix, value.length ? value.map((v) => (typeof v === "object" ? JSON.stringify(v) : String(v))).join(", ") : "—"]);
  } else {
    rows.push([prefix, value === null || value === undefined || value === "" ? "—" : String(value)]);
  }
  return rows;
}

function fieldsPanel(asset) {
  const { versions, ...record } = asset;
  const rows = fieldRows(record, "", []);
  rows.push(["versions", `${versions.length} (see Versions)`]);
  return h("details", { class: "panel", open: false },
    h("summary", {}, h("strong", {}, "All fields")),
    h("table", { class: "fields" },
      h("tbody", {}, rows.map(([key, value]) => h("tr", {}, h("th", { scope: "row" }, key), h("td", {}, value))))));
}

function summary(asset) {
  const m = asset.metadata || {};
  const rows = [
    ["Name", asset.name], ["Title", m.title || "—"], ["Description", m.description || "—"],
    ["Tags", (m.tags || []).join(", ") || "—"], ["Category", asset.category || "—"],
    ["Folder", m.folder], ["Visibility", asset.visibility], ["Type", `${asset.type} · ${asset.mime_type}`],
    ["Size", formatBytes(asset.size)], ["Duration", formatDuration(asset.duration) || "—"],
    ["Dimensions", dimensionsOf(asset) || "—"], ["Created", formatTime(asset.created_at)],
    ["Updated", formatTime(asset.updated_at)],
  ];
  return h("section", { class: "panel" }, h("h3", {}, "Details"),
    h("table", { class: "fields" }, h("tbody", {}, rows.map(([k, v]) => h("tr", {}, h("th", { scope: "row" }, k), h("td", {}, v))))));
}

// --- editing -------------------------------------------------------------------------------------

function field(id, label, control) {
  return [h("label", { for: id }, label), control];
}

function editForm(asset) {
  const m = asset.metadata || {};
  const input = (id, value, attrs = {}) => h("input", { id, value: value || "", autocomplete: "off", ...attrs });
  const visibility = h("select", { id: "edit-visibility" },
    ["private", "customer", "public"].map((v) => h("option", { value: v, selected: asset.visibility === v }, v)));
  const form = h("form", { class: "panel", id: "edit-form", novalidate: true },
    h("h3", {}, "Edit"),
    field("edit-title", "Title", input("edit-title", m.title, { testid: "edit-title" })),
    field("edit-description", "Description", h("textarea", { id: "edit-description", rows: "3" }, m.description || "")),
    field("edit-tags", "Tags (comma separated)", input("edit-tags", (m.tags || []).join(", "))),
    field("edit-category", "Category", input("edit-category", asset.category)),
    field("edit-folder", "Folder", input("edit-folder", m.folder, { list: "edit-folders" })),
    h("datalist", { id: "edit-folders" }, state.folders.map((f) => h("option", { value: f }))),
    field("edit-visibility", "Visibility", visibility),
    h("div", { class: "row" },
      h("button", { type: "submit", class: "primary", testid: "save" }, "Save"),
      h("span", { class: "muted", id: "edit-state", "aria-live": "polite" }, `revision ${asset.revision}`)),
  );
  form.addEventListener("input", () => {
    form.dataset.dirty = "true";
  });
  form.addEventListener("submit", guard(() => save(form)));
  return form;
}

async function save(form) {
  const value = (id) => form.querySelector(`#${id}`).value;
  const text = (id) => value(id).trim() || null;
  const changes = {
    title: text("edit-title"),
    description: text("edit-description"),
    tags: value("edit-tags").split(",").map((t) => t.trim()).filter(Boolean),
    category: text("edit-category"),
    folder: value("edit-folder").trim() || "/",
    visibility: value("edit-visibility"),
  };
  try {
    const response = await apiResponse(`/api/assets/${current.asset.asset_id}`, {
      method: "PUT", json: changes, headers: { "If-Match": current.etag },
    });
    current = { asset: await response.json(), etag: response.headers.get("ETag") };
  } catch (error) {
    if (error.status === 412) {
      showMessage(errorSlot(),
        "This asset was changed meanwhile (in another tab or by someone else). Reload it to see the changes, then edit again.",
        { action: { label: "Reload", run: guard(reload) } });
      return;
    }
    throw error;
  }
  render();
  showMessage(errorSlot(), "Saved.", { kind: "notice" });
  hooks.changed(current.asset);
}

// --- versions ------------------------------------------------------------------------------------

function versionsPanel(asset) {
  const list = h("ul", { class: "versions", testid: "versions-list" }, h("li", { class: "muted" }, "Loading…"));
  api(`/api/assets/${asset.asset_id}/versions`).then((page) => {
    clear(list);
    for (const v of page.items) {
      const item = h("li", { dataset: { version: String(v.version) } },
        h("span", { class: "v" }, `v${v.version}`),
        h("span", { class: "grow" }, `${formatTime(v.created_at)} · ${formatBytes(v.size)} · ${v.original_filename}`),
        v.current ? h("span", { class: "badge" }, "current") : "",
        h("button", { type: "button", class: "ghost small", "aria-label": `Download version ${v.version}`,
          onclick: guard(() => download(asset.asset_id, v.version)) }, "Download"));
      if (state.canWrite && !v.current) {
        item.append(h("button", { type: "button", class: "secondary small", "aria-label": `Restore version ${v.version}`,
          onclick: guard(() => restoreVersion(asset, v.version)) }, "Restore"));
      }
      list.append(item);
    }
  }).catch((error) => {
    clear(list).append(h("li", { class: "muted" }, error.message));
  });
  const panel = h("section", { class: "panel" }, h("h3", {}, "Versions"), list);
  if (state.canWrite) {
    const picker = h("input", { type: "file", id: "new-version-input", class: "visually-hidden file-input" });
    picker.addEventListener("change", guard(async () => {
      const file = picker.files[0];
      picker.value = "";
      if (file) await newVersion(asset, file);
    }));
    panel.append(h("div", { class: "row" }, picker,
      h("label", { for: "new-version-input", class: "button secondary small" }, "Upload a new version")));
  }
  return panel;
}

async function restoreVersion(asset, version) {
  await api(`/api/assets/${asset.asset_id}/versions/${version}/restore`, { method: "POST" });
  await reload();
  showMessage(errorSlot(), `Version ${version} restored as the current one.`, { kind: "notice" });
  hooks.changed(current.asset);
}

async function newVersion(asset, file) {
  const form = new FormData();
  form.append("file", file, file.name);
  showMessage(errorSlot(), `Uploading ${file.name}…`, { kind: "notice" });
  await api(`/api/assets/${asset.asset_id}/versions`, { method: "POST", body: form });
  await reload();
  showMessage(errorSlot(), `New version from ${file.name}.`, { kind: "notice" });
  hooks.changed(current.asset);
}
