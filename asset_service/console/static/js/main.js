// The console's entry point: sign-in, the views, the URL (history), live events.

import { api, assetTypes, claimsOf, session } from "./api.js";
import { closeDetail, openAssetId, openDetail, assetChanged, setupDetail } from "./detail.js";
import { $, clear, h, showMessage, titleOf } from "./dom.js";
import {
  addCard, onOpenAsset, pageError, refreshLibrary, removeCard, renderFolders, replaceCard,
  setupLibrary,
} from "./library.js";
import { fromUrl, remember, state } from "./state.js";
import { onUploadCreated, remoteProgress, setupUploads, showInterrupted } from "./upload.js";
import { loadStats, loadTrash, removeTrashRow } from "./views.js";

const WRITERS = ["editor", "admin", "service"];
const ADMINS = ["admin", "service"];
const TOKEN_EXPIRED = 4001;

// --- sign-in -----------------------------------------------------------------------------------

function showSignIn(message) {
  $("#app").hidden = true;
  $("#sign-in-screen").hidden = false;
  showMessage($("#sign-in-error"), message || "");
  offerDevToken();
  $("#token-input").focus();
}

async function offerDevToken() {
  // Only `serve --dev` on a loopback address has this route; elsewhere it is a 404.
  try {
    const response = await fetch("/console/dev-token");
    if (!response.ok) return;
    const { token } = await response.json();
    const button = $("#dev-token");
    button.hidden = false;
    button.onclick = () => {
      $("#token-input").value = token;
      signIn(token);
    };
  } catch {
    // no development token
  }
}

async function signIn(raw) {
  const token = raw.trim().replace(/^Bearer\s+/i, "");
  const slot = $("#sign-in-error");
  let claims;
  try {
    claims = claimsOf(token);
  } catch {
    showMessage(slot, "This is not a token: paste the JWT (three parts separated by dots).");
    return;
  }
  session.token = token;
  try {
    await api("/api/assets/search?limit=1"); // the service says whether the token is good
  } catch (error) {
    session.token = null;
    showMessage(slot, error.message);
    return;
  }
  $("#token-input").value = "";
  start(claims);
}

const MESSAGE_KEY = "asset-console-message";

function signOut(message) {
  session.token = null;
  live.stop();
  live.lastId = null;
  // a fresh page: controls removed for the last role must not stay removed for the next one
  if (message) sessionStorage.setItem(MESSAGE_KEY, message);
  location.replace("/");
}

// --- the signed-in console ------------------------------------------------------------------

async function start(claims) {
  session.onUnauthorized = (problem) => signOut(problem.detail || "Sign in again.");
  state.claims = claims;
  state.roles = new Set(claims.roles || []);
  state.canWrite = WRITERS.some((r) => state.roles.has(r));
  state.isAdmin = ADMINS.some((r) => state.roles.has(r));
  state.types = await assetTypes();
  $("#sign-in-screen").hidden = true;
  $("#app").hidden = false;
  const who = clear($("#who"));
  who.append(h("span", {}, `${claims.sub} · ${claims.customer_id}`),
    ...[...state.roles].map((r) => h("span", { class: `badge ${r}` }, r)));
  // what the roles may not do is not in the page at all (the API refuses it anyway)
  if (state.canWrite) {
    for (const id of ["#upload-controls", "#move-to", "#new-folder"]) $(id).hidden = false;
  } else {
    for (const id of ["#upload-controls", "#move-to", "#new-folder"]) $(id)?.remove();
  }
  if (state.isAdmin) $("#trash-tab").hidden = false;
  else $("#trash-tab")?.closest("li")?.remove();
  live.start();
  fromUrl();
  await show();
  showInterrupted();
}

function shownKey() {
  return JSON.stringify([state.view, state.filters]);
}

async function show() {
  if (state.view === "trash" && !state.isAdmin) state.view = "library";
  for (const name of ["library", "trash", "stats"]) {
    $(`#${name}-view`).hidden = state.view !== name;
    const link = $(`.view-link[data-view="${name}"]`);
    if (state.view === name) link?.setAttribute("aria-current", "page");
    else link?.removeAttribute("aria-current");
  }
  $("#page-error").replaceChildren();
  // folders and filters belong to the library
  $(".folders").hidden = state.view !== "library";
  $("#filters").hidden = state.view !== "library";
  try {
    if (state.view === "library") await refreshLibrary();
    else if (state.view === "trash") await loadTrash();
    else await loadStats();
  } catch (error) {
    pageError(error.message);
  }
  await syncDetail();
}

async function syncDetail() {
  if (!state.asset) {
    closeDetail();
    return;
  }
  if (openAssetId() === state.asset) return;
  try {
    await openDetail(state.asset);
  } catch (error) {
    state.asset = "";
    remember({ push: false });
    pageError(error.message);
  }
}

function openAsset(assetId) {
  state.asset = assetId;
  remember();
  syncDetail();
}

// --- live events -------------------------------------------------------------------------------

// A reconnection resumes after the last event seen (``since``), so nothing is missed; when the
// service no longer holds that event (``gone``) the view is reloaded and the socket starts over.
const EVENTS_GONE = 4010;

const live = {
  socket: null,
  retries: 0,
  timer: 0,
  lastId: null,
  start() {
    this.stop();
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const since = this.lastId ? `&since=${encodeURIComponent(this.lastId)}` : "";
    const url = `${scheme}://${location.host}/api/events?token=${encodeURIComponent(session.token)}${since}`;
    const socket = new WebSocket(url);
    this.socket = socket;
    socket.addEventListener("open", () => {
      this.retries = 0;
    });
    socket.addEventListener("message", (message) => {
      try {
        const event = JSON.parse(message.data);
        if (event.event === "gone") {
          this.lastId = null;
          show().catch(() => {});
          return;
        }
        if (event.id) this.lastId = event.id;
        handleEvent(event);
      } catch (error) {
        console.warn("event not understood", error);
      }
    });
    socket.addEventListener("close", (event) => {
      if (this.socket !== socket) return;
      this.socket = null;
      if (event.code === TOKEN_EXPIRED) {
        signOut("Your token has expired: sign in again.");
        return;
      }
      if (event.code === EVENTS_GONE) {
        this.lastId = null;
        this.timer = setTimeout(() => this.start(), 0);
        return;
      }
      // bounded reconnection with back-off while signed in
      if (session.token && this.retries < 8) {
        this.retries += 1;
        this.timer = setTimeout(() => this.start(), Math.min(30000, 500 * 2 ** this.retries));
      }
    });
  },
  stop() {
    clearTimeout(this.timer);
    const socket = this.socket;
    this.socket = null;
    if (socket) socket.close();
  },
};

let foldersTimer = 0;
function refreshFoldersSoon() {
  clearTimeout(foldersTimer);
  foldersTimer = setTimeout(() => renderFolders().catch(() => {}), 500);
}

async function fetchAsset(assetId) {
  try {
    return await api(`/api/assets/${assetId}`);
  } catch {
    return null; // not visible to this caller
  }
}

async function handleEvent({ event, data }) {
  if (event === "upload.progress") {
    remoteProgress(data);
    return;
  }
  const assetId = data?.asset_id;
  if (!assetId) return;
  if (event === "asset.deleted" || event === "asset.purged") {
    removeCard(assetId);
    if (openAssetId() === assetId && event === "asset.purged") closeDetail();
    if (state.view === "trash" && state.isAdmin) loadTrash().catch(() => {});
  } else if (event === "asset.restored") {
    removeTrashRow(assetId);
    const asset = await fetchAsset(assetId);
    if (asset && state.view === "library") addCard(asset);
  } else if (event === "asset.created") {
    const asset = await fetchAsset(assetId);
    if (asset && state.view === "library") addCard(asset);
  } else {
    const asset = await fetchAsset(assetId);
    if (asset) replaceCard(asset);
    await assetChanged(assetId).catch(() => {});
  }
  if (state.view === "library") refreshFoldersSoon();
}

// --- boot --------------------------------------------------------------------------------------

function boot() {
  setupLibrary();
  setupUploads();
  onOpenAsset(openAsset);
  onUploadCreated(async (assetId) => {
    const asset = await fetchAsset(assetId);
    if (asset && state.view === "library") addCard(asset);
  });
  setupDetail({
    changed: (asset) => replaceCard(asset),
    deleted: (asset) => {
      removeCard(asset.asset_id);
      pageError(`${titleOf(asset)} was moved to the trash.`, { kind: "notice" });
    },
    closed: () => {
      if (state.asset) {
        state.asset = "";
        remember({ push: false });
      }
    },
  });
  $("#sign-in-form").addEventListener("submit", (event) => {
    event.preventDefault();
    signIn($("#token-input").value);
  });
  $("#sign-out").addEventListener("click", () => signOut());
  for (const link of document.querySelectorAll(".view-link")) {
    link.addEventListener("click", () => {
      state.view = link.dataset.view;
      state.asset = "";
      remember();
      show();
    });
  }
  $("#brand").addEventListener("click", (event) => {
    event.preventDefault();
    state.view = "library";
    state.filters = {};
    state.asset = "";
    remember();
    show();
  });
  window.addEventListener("popstate", () => {
    if (!session.token) return;
    const before = shownKey();
    fromUrl();
    // only the open asset changed (back out of a detail): no need to reload the view
    if (shownKey() === before) syncDetail();
    else show();
  });
  const token = session.token;
  if (!token) {
    const message = sessionStorage.getItem(MESSAGE_KEY);
    sessionStorage.removeItem(MESSAGE_KEY);
    showSignIn(message);
    return;
  }
  let claims;
  try {
    claims = claimsOf(token);
  } catch {
    session.token = null;
    showSignIn();
    return;
  }
  start(claims).catch((error) => showSignIn(error.message));
}

boot();
