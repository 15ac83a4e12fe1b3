"""The page at ``/docs``: renders ``/openapi.json`` in the browser. Self-contained — inline CSS
and script, no fonts, images or scripts from anywhere else — so it works with no internet access.
The script and style are pinned by hash in the page's Content-Security-Policy."""

from __future__ import annotations

import base64
import hashlib

STYLE = """
:root {
  --fg: #1d232b; --muted: #5b6673; --line: #dde2e8; --bg: #f6f8fa; --card: #fff;
  --accent: #2457c5; --code: #eef1f5;
  --get: #1f7a4d; --post: #2457c5; --put: #a35a00; --delete: #b3261e; --head: #5b4bb3;
}
* { box-sizing: border-box; }
html, body { margin: 0; padding: 0; }
body {
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
    sans-serif;
  color: var(--fg); background: var(--bg);
}
code, pre, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
code { background: var(--code); padding: 0 4px; border-radius: 3px; font-size: 0.92em; }
a { color: var(--accent); text-decoration: none; }
a:hover { text-decoration: underline; }
.layout { display: flex; min-height: 100vh; }
nav {
  width: 300px; flex: none; background: var(--card); border-right: 1px solid var(--line);
  padding: 16px; position: sticky; top: 0; height: 100vh; overflow-y: auto;
}
nav h2 { font-size: 12px; text-transform: uppercase; letter-spacing: 0.06em;
  color: var(--muted); margin: 18px 0 6px; }
nav ul { list-style: none; margin: 0; padding: 0; }
nav li a { display: flex; gap: 8px; align-items: baseline; padding: 2px 4px;
  border-radius: 4px; color: var(--fg); font-size: 13px; }
nav li a:hover { background: var(--bg); text-decoration: none; }
nav .path { overflow-wrap: normal; }
#filter { width: 100%; padding: 6px 8px; border: 1px solid var(--line); border-radius: 6px;
  font: inherit; }
main { flex: 1; min-width: 0; padding: 24px 40px 80px; max-width: 1100px; }
header h1 { margin: 0 0 4px; font-size: 28px; }
header .version { color: var(--muted); font-size: 14px; }
.prose p { margin: 8px 0; }
.tag { margin-top: 36px; }
.tag > h2 { font-size: 22px; border-bottom: 1px solid var(--line); padding-bottom: 6px;
  margin-bottom: 4px; }
.tag > p { color: var(--muted); margin-top: 0; }
details.op { background: var(--card); border: 1px solid var(--line); border-radius: 8px;
  margin: 10px 0; }
details.op > summary { cursor: pointer; padding: 10px 14px; display: flex; gap: 12px;
  align-items: baseline; list-style: none; }
details.op > summary::-webkit-details-marker { display: none; }
details.op[open] > summary { border-bottom: 1px solid var(--line); }
.op-body { padding: 6px 16px 14px; }
.method { display: inline-block; min-width: 62px; text-align: center; font-weight: 700;
  font-size: 12px; color: #fff; border-radius: 4px; padding: 2px 6px;
  text-transform: uppercase; }
.m-get { background: var(--get); } .m-post { background: var(--post); }
.m-put { background: var(--put); } .m-delete { background: var(--delete); }
.m-head { background: var(--head); } .m-patch, .m-options { background: var(--muted); }
summary .path { font-weight: 600; }
summary .summary { color: var(--muted); margin-left: auto; text-align: right; }
h3 { font-size: 13px; text-transform: uppercase; letter-spacing: 0.05em; color: var(--muted);
  margin: 18px 0 6px; }
table { width: 100%; border-collapse: collapse; font-size: 14px; }
th, td { text-align: left; vertical-align: top; padding: 6px 8px;
  border-bottom: 1px solid var(--line); }
th { font-size: 12px; color: var(--muted); font-weight: 600; }
td.name { white-space: nowrap; font-weight: 600; }
.req { color: var(--delete); font-size: 11px; font-weight: 700; margin-left: 4px; }
.where { color: var(--muted); font-size: 12px; }
.status { font-weight: 700; }
.s2 { color: var(--get); } .s3 { color: var(--head); } .s4 { color: var(--put); }
.s5 { color: var(--delete); }
.type { color: #6a3fb3; }
.constraints { color: var(--muted); font-size: 12px; }
.schema { border-left: 2px solid var(--line); margin: 4px 0 4px 2px; padding-left: 10px; }
.prop { margin: 3px 0; }
.prop-name { font-weight: 600; }
.desc { color: var(--muted); }
.badge { display: inline-block; font-size: 11px; border: 1px solid var(--line);
  border-radius: 10px; padding: 0 7px; color: var(--muted); margin-left: 6px; }
.schema-card { background: var(--card); border: 1px solid var(--line); border-radius: 8px;
  padding: 10px 16px; margin: 10px 0; }
.schema-card h3 { text-transform: none; letter-spacing: 0; font-size: 16px; color: var(--fg); }
.toolbar { margin: 18px 0 0; display: flex; gap: 8px; }
button { font: inherit; font-size: 13px; padding: 4px 10px; border-radius: 6px;
  border: 1px solid var(--line); background: var(--card); cursor: pointer; }
.error { background: #fdecea; border: 1px solid #f5c2bf; padding: 12px; border-radius: 8px; }
.hidden { display: none; }
@media (max-width: 800px) {
  .layout { display: block; } nav { position: static; width: auto; height: auto; }
  main { padding: 16px; }
}
"""

SCRIPT = r"""
"use strict";
const METHODS = ["get", "head", "post", "put", "patch", "delete", "options"];
let SPEC = null;

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else node.setAttribute(key, value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

// Just enough Markdown for our descriptions: paragraphs and `code`.
function prose(text, tag) {
  const wrap = el(tag || "div", {class: "prose"});
  if (!text) return wrap;
  for (const para of String(text).split(/\n\s*\n/)) {
    const p = el("p");
    String(para).split(/(`[^`]+`)/).forEach((part) => {
      if (part.startsWith("`") && part.endsWith("`") && part.length > 1) {
        p.append(el("code", {}, part.slice(1, -1)));
      } else {
        p.append(document.createTextNode(part));
      }
    });
    wrap.append(p);
  }
  return wrap;
}

// A path that may wrap after each "/" and nowhere else.
function pathLabel(path) {
  const span = el("span", {class: "path mono"});
  path.split(/(?=\/)/).forEach((part, i) => {
    if (i) span.append(el("wbr"));
    span.append(part);
  });
  return span;
}

function inline(text) {
  const span = el("span", {class: "desc"});
  const p = prose(text, "span").querySelector("p");
  if (p) span.append(...p.childNodes);
  return span;
}

function resolve(obj) {
  let seen = 0;
  while (obj && obj.$ref && seen++ < 20) {
    const parts = obj.$ref.replace(/^#\//, "").split("/");
    obj = parts.reduce((o, k) => (o ? o[k] : undefined), SPEC);
  }
  return obj || {};
}

function refName(obj) {
  return obj && obj.$ref ? obj.$ref.split("/").pop() : null;
}

function anchor(kind, name) {
  return kind + "-" + String(name).replace(/[^A-Za-z0-9_-]/g, "_");
}

function constraints(s) {
  const bits = [];
  if (s.format) bits.push(s.format);
  if (s.enum) bits.push("one of: " + s.enum.map((v) => JSON.stringify(v)).join(", "));
  if (s.const !== undefined) bits.push("always " + JSON.stringify(s.const));
  if (s.minimum !== undefined) bits.push("≥ " + s.minimum);
  if (s.maximum !== undefined) bits.push("≤ " + s.maximum);
  if (s.minLength !== undefined) bits.push("at least " + s.minLength + " chars");
  if (s.maxLength !== undefined) bits.push("at most " + s.maxLength + " chars");
  const items = (n) => n + (n === 1 ? " item" : " items");
  if (s.minItems !== undefined) bits.push("at least " + items(s.minItems));
  if (s.maxItems !== undefined) bits.push("at most " + items(s.maxItems));
  // a pattern the description explains is left to the description (and openapi.json)
  if (s.pattern && !s.description) bits.push("pattern " + s.pattern);
  if (s.default !== undefined) bits.push("default " + JSON.stringify(s.default));
  if (s.contentMediaType) bits.push("contains " + s.contentMediaType);
  if (s.additionalProperties === false) bits.push("no other fields");
  return bits.length ? el("span", {class: "constraints"}, " — " + bits.join("; ")) : null;
}

// A one-line type label: a link for a named schema, `array of X`, `X | null`, …
function typeLabel(s) {
  const name = refName(s);
  if (name) return el("a", {href: "#" + anchor("schema", name), class: "type"}, name);
  const alternatives = s.anyOf || s.oneOf;
  if (alternatives) {
    const span = el("span");
    alternatives.forEach((alt, i) => {
      if (i) span.append(" | ");
      span.append(typeLabel(alt));
    });
    return span;
  }
  if (s.type === "array") {
    return el("span", {class: "type"}, "array of ", typeLabel(s.items || {}));
  }
  let type = Array.isArray(s.type) ? s.type.join(" | ") : s.type;
  if (!type) type = s.properties ? "object" : "any";
  if (type === "object" && s.additionalProperties && typeof s.additionalProperties === "object") {
    return el("span", {class: "type"}, "map of ", typeLabel(s.additionalProperties));
  }
  return el("span", {class: "type"}, type);
}

// The properties of an object schema (nested objects unfold; named schemas link).
function schemaTree(s, depth) {
  depth = depth || 0;
  const name = refName(s);
  if (name && depth > 0) return null;
  s = resolve(s);
  const box = el("div", {class: "schema"});
  if (s.description && depth === 0) box.append(prose(s.description));
  const props = s.properties || {};
  const required = new Set(s.required || []);
  for (const [key, sub] of Object.entries(props)) {
    const row = el("div", {class: "prop"},
      el("span", {class: "prop-name mono"}, key),
      required.has(key) ? el("span", {class: "req"}, "required") : null,
      " ", typeLabel(sub), constraints(resolve(refName(sub) ? {} : sub)));
    const rs = resolve(sub);
    if (rs.description && !refName(sub)) row.append(" ", inline(rs.description));
    box.append(row);
    const inner = sub.type === "array" ? sub.items || {} : sub;
    if (!refName(inner) && resolve(inner).properties && depth < 4) {
      const child = schemaTree(inner, depth + 1);
      if (child) box.append(child);
    }
  }
  if (!Object.keys(props).length) {
    box.append(el("div", {class: "prop"}, typeLabel(s), constraints(s)));
  }
  return box;
}

function schemaBlock(s) {
  const wrap = el("div");
  const name = refName(s);
  if (name) {
    wrap.append(el("div", {}, "Schema ", typeLabel(s)));
    wrap.append(schemaTree(s, 0));
  } else if (s.type === "array" || s.anyOf || (!s.properties && s.type !== "object")) {
    wrap.append(el("div", {}, typeLabel(s), constraints(s)));
  } else {
    wrap.append(schemaTree(s, 0));
  }
  return wrap;
}

function parametersTable(params) {
  const table = el("table", {},
    el("thead", {}, el("tr", {}, el("th", {}, "Name"), el("th", {}, "In"),
      el("th", {}, "Type"), el("th", {}, "Description"))));
  const body = el("tbody");
  for (const raw of params) {
    const p = resolve(raw);
    const s = p.schema || {};
    body.append(el("tr", {},
      el("td", {class: "name mono"}, p.name, p.required ? el("span", {class: "req"}, "*") : null),
      el("td", {class: "where"}, p.in),
      el("td", {}, typeLabel(s), constraints(resolve(s))),
      el("td", {}, inline(p.description || ""))));
  }
  table.append(body);
  return table;
}

function contentBlock(content) {
  const wrap = el("div");
  for (const [media, spec] of Object.entries(content || {})) {
    wrap.append(el("div", {}, el("code", {}, media)));
    if (spec.schema) wrap.append(schemaBlock(spec.schema));
  }
  return wrap;
}

function responsesTable(responses) {
  const table = el("table", {},
    el("thead", {}, el("tr", {}, el("th", {}, "Status"), el("th", {}, "Description"),
      el("th", {}, "Body"))));
  const body = el("tbody");
  for (const [status, raw] of Object.entries(responses || {})) {
    const r = resolve(raw);
    const desc = el("td", {}, inline(r.description || ""));
    for (const [header, h] of Object.entries(r.headers || {})) {
      desc.append(el("div", {class: "where"}, "header ", el("code", {}, header),
        h.description ? el("span", {}, " — ", inline(h.description)) : null));
    }
    const media = el("td");
    for (const [type, spec] of Object.entries(r.content || {})) {
      media.append(el("div", {}, el("code", {}, type), " ",
        spec.schema ? typeLabel(spec.schema) : null));
    }
    body.append(el("tr", {},
      el("td", {class: "status s" + String(status)[0]}, status), desc, media));
  }
  table.append(body);
  return table;
}

function securityNote(op) {
  const sec = op.security !== undefined ? op.security : SPEC.security || [];
  if (!sec.length) return el("span", {class: "badge"}, "no token");
  const optional = sec.some((s) => !Object.keys(s).length);
  return el("span", {class: "badge"}, optional ? "token optional" : "bearer token");
}

function operationCard(path, method, op) {
  const id = anchor("op", op.operationId || method + path);
  const details = el("details", {class: "op", id: id, "data-search":
    (method + " " + path + " " + (op.summary || "")).toLowerCase()});
  details.append(el("summary", {},
    el("span", {class: "method m-" + method}, method),
    pathLabel(path),
    securityNote(op),
    el("span", {class: "summary"}, op.summary || "")));
  const body = el("div", {class: "op-body"});
  if (op.description) body.append(prose(op.description));
  if (op.parameters && op.parameters.length) {
    body.append(el("h3", {}, "Parameters"), parametersTable(op.parameters));
  }
  if (op.requestBody) {
    const rb = resolve(op.requestBody);
    body.append(el("h3", {}, "Request body", rb.required ? el("span", {class: "req"}, "required")
      : null));
    if (rb.description) body.append(prose(rb.description));
    body.append(contentBlock(rb.content));
  }
  body.append(el("h3", {}, "Responses"), responsesTable(op.responses));
  details.append(body);
  return details;
}

function render(spec) {
  SPEC = spec;
  const info = spec.info || {};
  document.title = (info.title || "API") + " — API docs";
  const main = document.getElementById("main");
  const nav = document.getElementById("nav-list");
  main.replaceChildren();
  main.append(el("header", {},
    el("h1", {}, info.title || "API"),
    el("div", {class: "version"}, "version " + (info.version || "?") + " · OpenAPI " +
      spec.openapi + " · ", el("a", {href: "openapi.json"}, "openapi.json")),
    prose(info.description)));
  main.append(el("div", {class: "toolbar"},
    el("button", {id: "expand"}, "Expand all"), el("button", {id: "collapse"}, "Collapse all")));

  const tagged = new Map((spec.tags || []).map((t) => [t.name, {tag: t, ops: []}]));
  for (const [path, item] of Object.entries(spec.paths || {})) {
    for (const method of METHODS) {
      const op = item[method];
      if (!op) continue;
      const tag = (op.tags && op.tags[0]) || "Other";
      if (!tagged.has(tag)) tagged.set(tag, {tag: {name: tag}, ops: []});
      tagged.get(tag).ops.push([path, method, op]);
    }
  }
  for (const {tag, ops} of tagged.values()) {
    if (!ops.length) continue;
    const section = el("section", {class: "tag", id: anchor("tag", tag.name)},
      el("h2", {}, tag.name), tag.description ? inline(tag.description) : null);
    const links = el("ul");
    for (const [path, method, op] of ops) {
      section.append(operationCard(path, method, op));
      links.append(el("li", {"data-search": (method + " " + path).toLowerCase()},
        el("a", {href: "#" + anchor("op", op.operationId || method + path)},
          el("span", {class: "method m-" + method}, method),
          pathLabel(path))));
    }
    main.append(section);
    nav.append(el("h2", {}, el("a", {href: "#" + anchor("tag", tag.name)}, tag.name)), links);
  }

  const schemas = (spec.components || {}).schemas || {};
  const section = el("section", {class: "tag", id: "schemas"}, el("h2", {}, "Schemas"));
  const links = el("ul");
  for (const [name, s] of Object.entries(schemas)) {
    section.append(el("div", {class: "schema-card", id: anchor("schema", name)},
      el("h3", {}, name, " ", typeLabel(s.properties ? {type: "object"} : s)),
      schemaTree(s, 0)));
    links.append(el("li", {"data-search": name.toLowerCase()},
      el("a", {href: "#" + anchor("schema", name)}, el("span", {class: "path mono"}, name))));
  }
  main.append(section);
  nav.append(el("h2", {}, el("a", {href: "#schemas"}, "Schemas")), links);

  const schemes = (spec.components || {}).securitySchemes || {};
  if (Object.keys(schemes).length) {
    const auth = el("section", {class: "tag", id: "auth"}, el("h2", {}, "Authentication"));
    for (const [name, s] of Object.entries(schemes)) {
      auth.append(el("div", {class: "schema-card"},
        el("h3", {}, name, " ", el("span", {class: "badge"},
          [s.type, s.scheme, s.bearerFormat].filter(Boolean).join(" · "))),
        prose(s.description)));
    }
    main.append(auth);
  }

  document.getElementById("expand").addEventListener("click", () => {
    document.querySelectorAll("details.op").forEach((d) => { d.open = true; });
  });
  document.getElementById("collapse").addEventListener("click", () => {
    document.querySelectorAll("details.op").forEach((d) => { d.open = false; });
  });
  document.getElementById("filter").addEventListener("input", (event) => {
    const needle = event.target.value.trim().toLowerCase();
    document.querySelectorAll("[data-search]").forEach((node) => {
      node.classList.toggle("hidden", needle !== "" && !node.dataset.search.includes(needle));
    });
  });
  if (location.hash) {
    const target = document.getElementById(location.hash.slice(1));
    if (target) {
      if (target.tagName === "DETAILS") target.open = true;
      target.scrollIntoView();
    }
  }
  document.body.dataset.rendered = "true";
}

fetch("openapi.json", {headers: {Accept: "application/json"}})
  .then((response) => {
    if (!response.ok) throw new Error("GET openapi.json answered " + response.status);
    return response.json();
  })
  .then(render)
  .catch((error) => {
    const main = document.getElementById("main");
    main.replaceChildren(el("div", {class: "error"}, "Could not load the API description: " +
      error.message));
  });
"""

_BODY = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Asset Service — API docs</title>
<style>{style}</style>
</head>
<body>
<div class="layout">
<nav>
<input id="filter" type="search" placeholder="Filter operations…" aria-label="Filter">
<div id="nav-list"></div>
</nav>
<main id="main"><p>Loading the API description…</p></main>
</div>
<script>{script}</script>
</body>
</html>
"""


def _csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


PAGE = _BODY.format(style=STYLE, script=SCRIPT)

#: nothing but this page's own style and script, and requests to this origin
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        f"script-src {_csp_hash(SCRIPT)}",
        f"style-src {_csp_hash(STYLE)}",
        "connect-src 'self'",
        "img-src 'self' data:",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)
