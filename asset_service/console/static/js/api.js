// The public API, as any client calls it: every request with `Authorization: Bearer`, every
// error a problem document (RFC 9457) turned into an ApiError that carries its `detail`.

const TOKEN_KEY = "asset-console-token";

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

export const session = {
  get token() {
    return sessionStorage.getItem(TOKEN_KEY);
  },
  set token(value) {
    if (value) sessionStorage.setItem(TOKEN_KEY, value);
    else sessionStorage.removeItem(TOKEN_KEY);
  },
  onUnauthorized: () => {},
};

/** The claims of a JWT, read without verifying it: for the UI only (the API decides). */
export function claimsOf(token) {
  const part = token.split(".")[1];
  if (!part) throw new Error("this is not a JWT (three dot-separated parts)");
  const json = atob(part.replace(/-/g, "+").replace(/_/g, "/"));
  const bytes = Uint8Array.from(json, (c) => c.charCodeAt(0));
  return JSON.parse(new TextDecoder().decode(bytes));
}

export function authHeaders(extra = {}) {
  return { Authorization: `Bearer ${session.token}`, ...extra };
}

async function problemOf(response) {
  const type = response.headers.get("Content-Type") || "";
  if (type.includes("json")) {
    try {
      return await response.json();
    } catch {
      // fall through: a body that is not the JSON it claims
    }
  }
  return { title: response.statusText || `HTTP ${response.status}`, status: response.status };
}

/** `api(path, {method, json, body, headers, signal})` → parsed JSON (or null), with the
 * response itself as `.response` on the way through `apiResponse`. */
export async function apiResponse(path, { method = "GET", json, body, headers = {}, signal } = {}) {
  const init = { method, headers: authHeaders(headers), signal };
  if (json !== undefined) {
    init.body = JSON.stringify(json);
    init.headers["Content-Type"] = "application/json";
  } else if (body !== undefined) {
    init.body = body;
  }
  const response = await fetch(path, init);
  if (!response.ok) {
    const problem = await problemOf(response);
    if (response.status === 401) session.onUnauthorized(problem);
    throw new ApiError(response.status, problem);
  }
  return response;
}

export async function api(path, options) {
  const response = await apiResponse(path, options);
  if (response.status === 204) return null;
  return response.json();
}

export function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") search.set(key, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

/** A signed link to the content (media elements and frames cannot send headers). `inline` is
 * asked of the service, which signs it into the link (a link may not be altered); the same
 * request within a link window gets the same URL, so the browser reuses what it fetched. */
export async function signedLink(assetId, { version, inline = true, expires } = {}) {
  const flags = { version, expires, inline: inline ? 1 : undefined };
  const { url } = await api(`/api/assets/${assetId}/url${query(flags)}`);
  return url;
}

/** The asset types the service has: the enum of the search's `type` parameter in /openapi.json
 * (plugins add types, so the console does not hard-code them). */
export async function assetTypes() {
  const fallback = ["audio", "document", "image", "video"];
  try {
    const response = await fetch("/openapi.json");
    if (!response.ok) return fallback;
    const doc = await response.json();
    const resolve = (node) => {
      while (node && node.$ref) {
        node = node.$ref.replace(/^#\//, "").split("/").reduce((at, key) => at?.[key], doc);
      }
      return node;
    };
    const search = doc.paths?.["/api/assets/search"]?.get;
    for (const raw of search?.parameters || []) {
      const param = resolve(raw);
      if (param?.name === "type" && param.in === "query") {
        const values = resolve(param.schema)?.enum;
        if (Array.isArray(values) && values.length) return [...values].sort();
      }
    }
  } catch {
    // the fallback below
  }
  return fallback;
}
