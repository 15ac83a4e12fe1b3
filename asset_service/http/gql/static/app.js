"use strict";
// The GraphQL page: runs the query with the token from this tab's sessionStorage.
(() => {
  const $ = (id) => document.getElementById(id);
  const token = $("token");
  token.value = sessionStorage.getItem("asset-service-token") || "";
  token.addEventListener("change", () => sessionStorage.setItem("asset-service-token", token.value.trim()));

  async function post(query, variables) {
    const response = await fetch("/graphql", {
      method: "POST",
      headers: {
        "Content-Type": "application/json",
        "Accept": "application/graphql-response+json, application/json",
        "Authorization": "Bearer " + token.value.trim(),
      },
      body: JSON.stringify({ query, variables }),
    });
    return response.json();
  }

  async function run() {
    let variables;
    try {
      variables = JSON.parse($("variables").value || "{}");
    } catch (error) {
      $("result").textContent = "Variables are not valid JSON: " + error.message;
      return;
    }
    $("result").textContent = "…";
    try {
      $("result").textContent = JSON.stringify(await post($("query").value, variables), null, 2);
    } catch (error) {
      $("result").textContent = "Request failed: " + error.message;
    }
  }

  function typeName(type) {
    if (type.kind === "NON_NULL") return typeName(type.ofType) + "!";
    if (type.kind === "LIST") return "[" + typeName(type.ofType) + "]";
    return type.name;
  }

  async function loadSchema() {
    const query = `{ __schema { queryType { name } mutationType { name }
      types { name kind description fields { name description
        args { name type { kind name ofType { kind name ofType { kind name ofType { kind name } } } } }
        type { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } } }`;
    const result = await post(query, {});
    const target = $("schema");
    target.textContent = "";
    if (!result.data) {
      target.textContent = JSON.stringify(result.errors || result, null, 2);
      return;
    }
    const schema = result.data.__schema;
    for (const root of [schema.queryType, schema.mutationType]) {
      if (!root) continue;
      const type = schema.types.find((t) => t.name === root.name);
      const heading = document.createElement("h2");
      heading.textContent = root.name;
      target.append(heading);
      for (const field of type.fields) {
        const line = document.createElement("div");
        line.className = "field";
        const args = field.args.map((a) => a.name + ": " + typeName(a.type)).join(", ");
        line.textContent = field.name + (args ? "(" + args + ")" : "") + ": " + typeName(field.type);
        if (field.description) {
          const doc = document.createElement("span");
          doc.className = "doc";
          doc.textContent = field.description;
          line.append(doc);
        }
        target.append(line);
      }
    }
  }

  $("run").addEventListener("click", run);
  $("load-schema").addEventListener("click", loadSchema);
  document.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) run();
  });
})();
