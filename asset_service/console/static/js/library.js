// The library: type tabs, folder tree, filters and the asset grid with cursor paging as the
// user scrolls, multi-select and moves. Everything through /api/assets/search and
// /api/library/{type}/….

import { api, query, signedLink } from "./api.js";
import {
  $, clear, dimensionsOf, formatBytes, formatDuration, h, iconFor, showMessage, titleOf,
} from "./dom.js";
import { askText } from "./prompt.js";
import { remember, state } from "./state.js";

const PAGE_SIZE = 48;
const MB = 1000 * 1000;

const grid = {
  generation: 0,
  cursor: null,
  done: false,
  loading: false,
  selected: new Set(),
  records: new Map(),
};

let openAsset = () => {};
export function onOpenAsset(handler) {
  openAsset = handler;
}

export function pageError(text, options) {
  showMessage($("#page-error"), text, options);
}

// --- tabs --------------------------------------------------------------------------------

export function renderTabs() {
  const tabs = clear($("#type-tabs"));
  const current = state.filters.type || "";
  const entries = [["", "All types"], ...state.types.map((t) => [t, t])];
  for (const [type, label] of entries) {
    const selected = type === current;
    tabs.append(h("button", {
      type: "button", role: "tab", "aria-selected": String(selected), tabindex: selected ? "0" : "-1",
      "aria-controls": "grid", testid: `type-tab-${type || "all"}`, dataset: { type },
      onclick: () => selectType(type),
    }, label));
  }
}

function tabKeys(event) {
  const tabs = [...$("#type-tabs").querySelectorAll("[role=tab]")];
  const index = tabs.indexOf(document.activeElement);
  if (index < 0) return;
  const moves = { ArrowRight: 1, ArrowLeft: -1, Home: -index, End: tabs.length - 1 - index };
  if (!(event.key in moves)) return;
  event.preventDefault();
  const next = tabs[(index + moves[event.key] + tabs.length) % tabs.length];
  next.focus();
  next.click();
}

function selectType(type) {
  if ((state.filters.type || "") === type) return;
  if (type) state.filters.type = type;
  else delete state.filters.type;
  delete state.filters.folder;
  remember();
  refreshLibrary();
  $(`[data-testid="type-tab-${type || "all"}"]`)?.focus();
}

// --- folders -------------------------------------------------------------------------------

async function loadFolders() {
  const types = state.filters.type ? [state.filters.type] : state.types;
  const counts = new Map([["/", 0]]);
  const lists = await Promise.all(
    types.map((t) => api(`/api/library/${encodeURIComponent(t)}/folders`).catch(() => ({ items: [] }))),
  );
  for (const list of lists) {
    for (const folder of list.items) counts.set(folder.path, (counts.get(folder.path) || 0) + folder.count);
  }
  state.folders = [...counts.keys()].sort();
  return counts;
}

function folderTree(counts) {
  // path → children, with every ancestor present even if it holds nothing itself
  const children = new Map([["/", []]]);
  const paths = new Set(counts.keys());
  for (const path of [...paths]) {
    let at = path;
    while (at !== "/") {
      const parent = at.slice(0, at.lastIndexOf("/")) || "/";
      paths.add(parent);
      at = parent;
    }
  }
  for (const path of [...paths].sort()) {
    if (path === "/") continue;
    const parent = path.slice(0, path.lastIndexOf("/")) || "/";
    if (!children.has(parent)) children.set(parent, []);
    children.get(parent).push(path);
  }
  return children;
}

export async function renderFolders() {
  const counts = await loadFolders();
  const children = folderTree(counts);
  const current = state.filters.folder || "";
  const item = (path, label) => {
    const count = path === "" ? "" : counts.get(path) || "";
    const button = h("button", {
      type: "button", "aria-current": String(path === current), dataset: { folder: path },
      onclick: () => selectFolder(path),
    }, h("span", {}, label), h("span", { class: "count" }, count ? String(count) : ""));
    const li = h("li", {}, button);
    const kids = path === "" ? [] : children.get(path) || [];
    if (kids.length) li.append(h("ul", {}, kids.map((k) => item(k, k.slice(k.lastIndexOf("/") + 1)))));
    return li;
  };
  clear($("#folder-tree")).append(item("", "All folders"), item("/", "/"));
}

function selectFolder(path) {
  if (path) state.filters.folder = path;
  else delete state.filters.folder;
  remember();
  refreshLibrary();
}

export async function createFolder() {
  const path = await askText({
    title: "New folder", label: "Folder path", value: `${state.filters.folder && state.filters.folder !== "/" ? state.filters.folder : ""}/`,
    options: state.folders,
    validate: async (value) => {
      const types = state.filters.type ? [state.filters.type] : state.types;
      // folders are per type: in the all-types view the new folder is made for each type
      for (const t of types) {
        await api(`/api/library/${encodeURIComponent(t)}/folder`, { method: "POST", json: { path: value } });
      }
    },
  });
  if (path) {
    await renderFolders();
    pageError(`Folder ${path} created.`, { kind: "notice" });
  }
}

// --- the grid -----------------------------------------------------------------------------

function searchParams(cursor) {
  const f = state.filters;
  const params = { ...f, limit: PAGE_SIZE, cursor };
  for (const key of ["min_size", "max_size"]) {
    if (f[key]) params[key] = f[key];
  }
  return params;
}

export function readyPreview(asset, kinds = ["thumbnail", "poster"]) {
  // The previews feature's record: a map kind → state, or a list of {kind, status}.
  const previews = asset.previews;
  if (!previews) return null;
  const entries = Array.isArray(previews)
    ? previews.map((p) => [p.kind, p])
    : Object.entries(previews);
  for (const kind of kinds) {
    const found = entries.find(([k]) => k === kind);
    if (!found) continue;
    const entry = found[1];
    const status = typeof entry === "string" ? entry : entry?.status ?? entry?.state ?? "ready";
    if (status === "ready") return kind;
  }
  return null;
}

const thumbnails = new IntersectionObserver((entries) => {
  for (const entry of entries) {
    if (!entry.isIntersecting) continue;
    thumbnails.unobserve(entry.target);
    const img = entry.target;
    const { assetId, kind } = img.dataset;
    api(`/api/assets/${assetId}/url${query({ preview: kind, size: 256 })}`)
      .then(({ url }) => {
        img.src = url;
        img.classList.replace("icon", "preview");
      })
      .catch(() => {}); // the icon stays
  }
}, { rootMargin: "200px" });

function metaLine(asset) {
  return [formatBytes(asset.size), formatDuration(asset.duration), dimensionsOf(asset)].filter(Boolean);
}

export function card(asset) {
  const name = titleOf(asset);
  const kind = readyPreview(asset);
  const picture = h("img", { class: "icon", src: iconFor(asset.type), alt: "", width: "56", height: "56" });
  if (kind) {
    picture.dataset.assetId = asset.asset_id;
    picture.dataset.kind = kind;
    thumbnails.observe(picture);
  }
  const selected = grid.selected.has(asset.asset_id);
  const node = h("li", {
    class: `card${selected ? " selected" : ""}`, tabindex: "0", testid: "asset-card",
    dataset: { assetId: asset.asset_id, type: asset.type },
    "aria-label": `${name}, ${asset.type}`,
    onclick: (event) => {
      if (event.target.closest(".pick")) return;
      if (event.ctrlKey || event.metaKey || event.shiftKey) {
        if (state.canWrite) toggleSelected(asset.asset_id);
        return;
      }
      openAsset(asset.asset_id);
    },
    onkeydown: (event) => {
      if (event.target !== node) return;
      if (event.key === "Enter") openAsset(asset.asset_id);
      else if (event.key === " " && state.canWrite) {
        event.preventDefault();
        toggleSelected(asset.asset_id);
      }
    },
  },
  h("div", { class: "thumb" }, picture),
  h("div", { class: "info" },
    h("p", { class: "name", title: name }, name),
    h("div", { class: "meta" },
      h("span", { class: `type type-${["audio", "video", "image", "document"].includes(asset.type) ? asset.type : "other"}` }, asset.type),
      metaLine(asset).map((text) => h("span", {}, text)))),
  );
  if (state.canWrite) {
    node.prepend(h("input", {
      type: "checkbox", class: "pick", checked: selected, "aria-label": `Select ${name}`,
      tabindex: "-1", onchange: () => toggleSelected(asset.asset_id),
    }));
  }
  // "customer" is the default: only the exceptions are marked
  if (asset.visibility && asset.visibility !== "customer") {
    node.append(h("span", { class: "vis badge" }, asset.visibility));
  }
  return node;
}

function toggleSelected(id) {
  if (grid.selected.has(id)) grid.selected.delete(id);
  else grid.selected.add(id);
  const node = $(`[data-testid="asset-card"][data-asset-id="${id}"]`);
  if (node) {
    node.classList.toggle("selected", grid.selected.has(id));
    const box = node.querySelector(".pick");
    if (box) box.checked = grid.selected.has(id);
  }
  renderSelection();
}

function renderSelection() {
  const count = grid.selected.size;
  $("#selection-count").textContent = count ? `${count} selected` : "";
  const move = $("#move-to"); // (absent for viewers)
  if (move) move.disabled = count === 0;
}

function renderEmpty() {
  const empty = $("#grid-empty");
  const any = grid.records.size > 0;
  empty.hidden = any || grid.loading || !grid.done;
  const filtered = Object.keys(state.filters).some((k) => k !== "type");
  empty.textContent = filtered
    ? "Nothing matches this search."
    : state.canWrite ? "No assets yet. Drop files here or use “Upload files”." : "No assets yet.";
}

function renderCrumbs() {
  const f = state.filters;
  const parts = [f.type ? `${f.type[0].toUpperCase()}${f.type.slice(1)}` : "All types"];
  if (f.folder) parts.push(f.folder);
  if (f.q) parts.push(`“${f.q}”`);
  $("#crumbs").textContent = parts.join(" · ");
}

export async function loadMore() {
  if (grid.loading || grid.done) return;
  grid.loading = true;
  const generation = grid.generation;
  try {
    const page = await api(`/api/assets/search${query(searchParams(grid.cursor))}`);
    if (generation !== grid.generation) return;
    const list = $("#grid");
    for (const asset of page.items) {
      if (grid.records.has(asset.asset_id)) continue;
      grid.records.set(asset.asset_id, asset);
      list.append(card(asset));
    }
    grid.cursor = page.next_cursor;
    grid.done = !page.next_cursor;
  } catch (error) {
    if (generation === grid.generation) {
      grid.done = true;
      pageError(error.message);
    }
  } finally {
    if (generation === grid.generation) {
      grid.loading = false;
      renderEmpty();
      // the sentinel may still be in view (a short page): keep filling
      if (!grid.done && isVisible($("#grid-more"))) loadMore();
    }
  }
}

function isVisible(node) {
  const box = node.getBoundingClientRect();
  return box.top < window.innerHeight + 300;
}

export function refreshLibrary() {
  grid.generation += 1;
  grid.cursor = null;
  grid.done = false;
  grid.loading = false;
  grid.records.clear();
  grid.selected.clear();
  clear($("#grid"));
  renderSelection();
  renderTabs();
  renderCrumbs();
  syncFilterForm();
  $("#search-input").value = state.filters.q || "";
  const folder = $("#upload-folder");
  if (folder) folder.placeholder = state.filters.folder || "/";
  renderFolders().catch((error) => pageError(error.message));
  return loadMore();
}

/** A record the live events or the detail view changed: update its card if it is shown. */
export function replaceCard(asset) {
  const node = $(`[data-testid="asset-card"][data-asset-id="${asset.asset_id}"]`);
  if (!node) return false;
  grid.records.set(asset.asset_id, asset);
  node.replaceWith(card(asset));
  return true;
}

export function removeCard(assetId) {
  $(`[data-testid="asset-card"][data-asset-id="${assetId}"]`)?.remove();
  grid.records.delete(assetId);
  if (grid.selected.delete(assetId)) renderSelection();
  renderEmpty();
}

/** A new asset (uploaded here or elsewhere): shown at the top when the plain view (no search
 * words or filters beyond type and folder) would list it. */
export function addCard(asset) {
  if (grid.records.has(asset.asset_id)) return replaceCard(asset);
  const f = state.filters;
  const plain = Object.keys(f).every((k) => ["type", "folder"].includes(k));
  const fits = (!f.type || f.type === asset.type) && (!f.folder || f.folder === asset.metadata?.folder);
  if (!plain || !fits || (f.sort && f.sort !== "-created_at")) return false;
  grid.records.set(asset.asset_id, asset);
  $("#grid").prepend(card(asset));
  renderEmpty();
  return true;
}

// --- filters and search ---------------------------------------------------------------------

function syncFilterForm() {
  const form = $("#filter-form");
  const f = state.filters;
  form.tags.value = f.tags || "";
  form.tag_mode.value = f.tag_mode || "";
  form.category.value = f.category || "";
  form.mime.value = f.mime || "";
  form.min_size.value = f.min_size ? String(Number(f.min_size) / MB) : "";
  form.max_size.value = f.max_size ? String(Number(f.max_size) / MB) : "";
  form.sort.value = f.sort || "";
}

function applyFilterForm() {
  const form = $("#filter-form");
  const f = state.filters;
  const set = (key, value) => {
    if (value) f[key] = value;
    else delete f[key];
  };
  set("tags", form.tags.value.trim());
  set("tag_mode", form.tag_mode.value);
  set("category", form.category.value.trim());
  set("mime", form.mime.value.trim());
  const bytes = (value) => (value === "" ? "" : String(Math.round(Number(value) * MB)));
  set("min_size", bytes(form.min_size.value));
  set("max_size", bytes(form.max_size.value));
  set("sort", form.sort.value);
  remember();
  refreshLibrary();
}

let typing = 0;
function searchFor(text, { push }) {
  const value = text.trim();
  if ((state.filters.q || "") === value) return;
  if (value) state.filters.q = value;
  else delete state.filters.q;
  remember({ push });
  refreshLibrary();
}

// --- moves -----------------------------------------------------------------------------------

async function moveSelected() {
  const ids = [...grid.selected];
  if (!ids.length) return;
  await renderFolders();
  const byType = new Map();
  for (const id of ids) {
    const t = grid.records.get(id)?.type;
    if (!byType.has(t)) byType.set(t, []);
    byType.get(t).push(id);
  }
  const folder = await askText({
    title: `Move ${ids.length} asset${ids.length > 1 ? "s" : ""}`,
    label: "To folder (a new one is created)",
    value: state.filters.folder || "/",
    options: state.folders,
    // all or nothing per type, as the API moves them
    validate: async (value) => {
      for (const [t, group] of byType) {
        await api(`/api/library/${encodeURIComponent(t)}/move`, {
          method: "PUT", json: { asset_ids: group, folder: value },
        });
      }
    },
  });
  if (folder) {
    pageError(`Moved ${ids.length} to ${folder}.`, { kind: "notice" });
    await refreshLibrary();
  }
}

// --- wiring ----------------------------------------------------------------------------------

export function setupLibrary() {
  $("#type-tabs").addEventListener("keydown", tabKeys);
  $("#search-form").addEventListener("submit", (event) => {
    event.preventDefault();
    clearTimeout(typing);
    searchFor($("#search-input").value, { push: true });
  });
  $("#search-input").addEventListener("input", () => {
    clearTimeout(typing);
    typing = setTimeout(() => searchFor($("#search-input").value, { push: true }), 350);
  });
  $("#filter-form").addEventListener("submit", (event) => {
    event.preventDefault();
    applyFilterForm();
  });
  $("#filter-form").addEventListener("reset", (event) => {
    event.preventDefault();
    for (const key of ["tags", "tag_mode", "category", "mime", "min_size", "max_size", "sort"]) {
      delete state.filters[key];
    }
    remember();
    refreshLibrary();
  });
  $("#move-to").addEventListener("click", () => moveSelected().catch((e) => pageError(e.message)));
  $("#new-folder").addEventListener("click", () => createFolder().catch((e) => pageError(e.message)));

  new IntersectionObserver((entries) => {
    if (entries.some((e) => e.isIntersecting)) loadMore();
  }, { root: $("#content"), rootMargin: "300px" }).observe($("#grid-more"));
}

export { signedLink };
