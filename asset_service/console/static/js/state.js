// What the console shows, and its reflection in the page's URL (shareable; back and forward
// restore it). The URL's parameters are the search API's own, plus `view` and `asset`.

export const FILTER_KEYS = ["type", "q", "folder", "tags", "tag_mode", "category", "mime",
  "min_size", "max_size", "sort"];

export const state = {
  claims: null,
  roles: new Set(),
  canWrite: false,
  isAdmin: false,
  types: [],
  view: "library",
  filters: {},
  asset: "",
  folders: [],
};

export function fromUrl() {
  const params = new URLSearchParams(location.search);
  state.view = ["trash", "stats"].includes(params.get("view")) ? params.get("view") : "library";
  state.filters = {};
  for (const key of FILTER_KEYS) {
    const value = params.get(key);
    if (value) state.filters[key] = value;
  }
  state.asset = params.get("asset") || "";
}

export function toUrl() {
  const params = new URLSearchParams();
  if (state.view !== "library") params.set("view", state.view);
  if (state.view === "library") {
    for (const key of FILTER_KEYS) if (state.filters[key]) params.set(key, state.filters[key]);
  }
  if (state.asset) params.set("asset", state.asset);
  const text = params.toString();
  return `${location.pathname}${text ? `?${text}` : ""}`;
}

/** Record the current state in the history: a new entry (`push`) or in place. */
export function remember({ push = true } = {}) {
  const url = toUrl();
  if (url === `${location.pathname}${location.search}`) return;
  if (push) history.pushState(null, "", url);
  else history.replaceState(null, "", url);
}
