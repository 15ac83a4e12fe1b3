// The trash (admins: the API lists deleted assets to admins only) and the audio library's
// statistics dashboard.

import { api, query } from "./api.js";
import { $, clear, formatBytes, formatDuration, formatTime, h, iconFor, titleOf } from "./dom.js";
import { pageError } from "./library.js";
import { state } from "./state.js";

const TRASH_PAGES = 20;

export async function loadTrash() {
  const list = clear($("#trash-list"));
  $("#trash-empty").hidden = true;
  const deleted = [];
  let cursor = null;
  // deleted assets come with the live ones (include_deleted): a bounded walk collects them
  for (let page = 0; page < TRASH_PAGES; page += 1) {
    const result = await api(`/api/assets/search${query({ include_deleted: "true", sort: "-updated_at", limit: 200, cursor })}`);
    deleted.push(...result.items.filter((a) => a.deleted_at));
    cursor = result.next_cursor;
    if (!cursor) break;
  }
  for (const asset of deleted) list.append(trashRow(asset));
  $("#trash-empty").hidden = deleted.length > 0;
}

function trashRow(asset) {
  const restore = h("button", { type: "button", class: "secondary small", testid: "restore",
    "aria-label": `Restore ${titleOf(asset)}`, onclick: () => run(() => restoreAsset(asset)) }, "Restore");
  const purge = h("button", { type: "button", class: "danger small", testid: "purge",
    "aria-label": `Delete for good: ${titleOf(asset)}`,
    onclick: () => {
      if (purge.dataset.armed !== "true") {
        purge.dataset.armed = "true";
        purge.textContent = "Really delete for good?";
        purge.setAttribute("aria-label", `Really delete for good? ${titleOf(asset)}`);
        purge.classList.add("confirm");
        return;
      }
      run(() => purgeAsset(asset));
    } }, "Delete for good");
  return h("li", { testid: "trash-item", dataset: { assetId: asset.asset_id } },
    h("img", { src: iconFor(asset.type), alt: "", width: "28", height: "28" }),
    h("div", { class: "grow" },
      h("div", { class: "name" }, titleOf(asset)),
      h("div", { class: "muted" }, `${asset.type} · ${formatBytes(asset.size)} · ${asset.metadata?.folder || "/"} · deleted ${formatTime(asset.deleted_at)}`)),
    restore, state.isAdmin ? purge : "");
}

async function run(task) {
  try {
    await task();
  } catch (error) {
    pageError(error.message);
  }
}

async function restoreAsset(asset) {
  await api(`/api/assets/${asset.asset_id}/restore`, { method: "POST" });
  removeTrashRow(asset.asset_id);
  pageError(`${titleOf(asset)} is back in ${asset.metadata?.folder || "/"}.`, { kind: "notice" });
}

async function purgeAsset(asset) {
  await api(`/api/assets/${asset.asset_id}?permanent=true`, { method: "DELETE" });
  removeTrashRow(asset.asset_id);
  pageError(`${titleOf(asset)} was deleted for good.`, { kind: "notice" });
}

export function removeTrashRow(assetId) {
  $(`[data-testid="trash-item"][data-asset-id="${assetId}"]`)?.remove();
  $("#trash-empty").hidden = $("#trash-list").children.length > 0;
}

// --- audio statistics -----------------------------------------------------------------------

export async function loadStats() {
  const root = clear($("#stats"));
  const stats = await api("/api/audio-library/stats");
  const kpi = (value, label) => h("div", { class: "kpi" }, h("div", { class: "value" }, value), h("div", { class: "label" }, label));
  root.append(h("div", { class: "kpis" },
    kpi(String(stats.count), "audio assets"),
    kpi(formatDuration(stats.total_duration) || "0:00", "total duration"),
    kpi(formatBytes(stats.total_size), "total size")));
  root.append(breakdown("By format", "Format", stats.by_format), breakdown("By folder", "Folder", stats.by_folder));
}

function breakdown(title, label, groups) {
  const entries = Object.entries(groups || {}).sort((a, b) => b[1].count - a[1].count);
  const most = Math.max(1, ...entries.map(([, t]) => t.count));
  const rows = entries.map(([name, t]) => {
    const fill = h("span");
    fill.style.width = `${Math.round((t.count / most) * 100)}%`; // CSSOM, not an inline style
    return h("tr", {},
      h("td", {}, name),
      h("td", { class: "num" }, String(t.count)),
      h("td", {}, h("div", { class: "bar", role: "img", "aria-label": `${t.count} of ${most}` }, fill)),
      h("td", { class: "num" }, formatDuration(t.duration)),
      h("td", { class: "num" }, formatBytes(t.size)));
  });
  return h("section", { class: "breakdown" }, h("h2", {}, title),
    entries.length
      ? h("table", {}, h("thead", {}, h("tr", {}, [label, "Count", "Share", "Duration", "Size"].map((c) => h("th", { scope: "col" }, c)))),
        h("tbody", {}, rows))
      : h("p", { class: "muted" }, "No audio yet."));
}
