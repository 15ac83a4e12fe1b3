// Small DOM and formatting helpers. Text always goes in as text (never as HTML).

export function $(selector, root = document) {
  return root.querySelector(selector);
}

/** `h("button", {class: "x", onclick: fn, dataset: {...}}, child, "text", ...)` */
export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key === "testid") node.dataset.testid = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key in node && typeof value !== "string") node[key] = value;
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function clear(node) {
  node.replaceChildren();
  return node;
}

/** Show a message in an error slot: the element carrying `data-testid="error-message"` exists
 * only while there is something to say. `kind` "notice" is a success message. */
export function showMessage(slot, text, { kind = "error", action } = {}) {
  clear(slot);
  if (!text) return;
  const box = h(
    "div",
    { class: kind === "notice" ? "error notice" : "error", role: kind === "notice" ? "status" : "alert",
      testid: kind === "notice" ? "notice-message" : "error-message" },
    h("span", {}, text),
  );
  if (action) box.append(h("button", { type: "button", class: "small", onclick: action.run }, action.label));
  const dismiss = h("button", { type: "button", class: "ghost small", "aria-label": "Dismiss message",
    onclick: () => clear(slot) }, "×");
  box.append(dismiss);
  slot.append(box);
}

export function formatBytes(bytes) {
  if (bytes === null || bytes === undefined) return "";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let value = Number(bytes);
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return `${value >= 100 || unit === 0 ? Math.round(value) : value.toFixed(1)} ${units[unit]}`;
}

export function formatDuration(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return "";
  const total = Math.round(seconds);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
}

export function formatTime(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString();
}

export function dimensionsOf(asset) {
  const d = asset.dimensions;
  return d && d.width && d.height ? `${d.width}×${d.height}` : "";
}

export const KNOWN_TYPES = new Set(["audio", "video", "image", "document"]);

export function iconFor(type) {
  return `/console/icons/${KNOWN_TYPES.has(type) ? type : "other"}.svg`;
}

export function titleOf(asset) {
  return asset.metadata?.title || asset.name || asset.original_filename || asset.asset_id;
}
