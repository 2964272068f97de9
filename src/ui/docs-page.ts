import { html } from 'hono/html';

// The API reference, rendered on the server from the OpenAPI document: no script, nothing from a CDN.

type Json = Record<string, unknown>;

const METHODS = ['get', 'post', 'put', 'patch', 'delete'] as const;

function schemaBlock(schema: unknown) {
  return html`<pre>${JSON.stringify(schema, null, 2)}</pre>`;
}

export function docsPage(document: object) {
  const doc = document as Json;
  const paths = (doc.paths ?? {}) as Record<string, Record<string, Json>>;
  const schemas = ((doc.components as Json | undefined)?.schemas ?? {}) as Json;
  const info = doc.info as { title: string; description?: string };
  const operations = Object.entries(paths).flatMap(([path, item]) =>
    METHODS.filter((m) => item[m]).map((method) => ({ path, method, op: item[method] as Json })),
  );
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${info.title}</title>
<link rel="stylesheet" href="/docs/style.css">
</head>
<body>
<main>
<h1>${info.title}</h1>
<p>${info.description ?? ''}</p>
<p>Machine-readable: <a href="/openapi.json">/openapi.json</a> (OpenAPI 3.1).</p>
${operations.map(
  ({ path, method, op }) => html`<details id="${String(op.operationId ?? `${method}-${path}`)}">
<summary><span class="m ${method}">${method.toUpperCase()}</span> <code>${path}</code> — ${String(op.summary ?? '')}</summary>
<p>${String(op.description ?? '')}</p>
${(op.parameters as Json[] | undefined)?.length ? html`<h4>Parameters</h4><ul>${(op.parameters as Json[]).map((p) => html`<li><code>${String(p.name)}</code> (${String(p.in)}) ${String((p.schema as Json | undefined)?.description ?? p.description ?? '')}</li>`)}</ul>` : ''}
${op.requestBody ? html`<h4>Request body</h4>${schemaBlock((op.requestBody as Json).content)}` : ''}
<h4>Responses</h4>
<ul>${Object.entries((op.responses ?? {}) as Record<string, Json>).map(([status, r]) => html`<li><b>${status}</b> ${String(r.description ?? '')}</li>`)}</ul>
</details>`,
)}
<h2>Schemas</h2>
${Object.entries(schemas).map(([name, schema]) => html`<details><summary><code>${name}</code></summary>${schemaBlock(schema)}</details>`)}
</main>
</body>
</html>`;
}

export const DOCS_CSS = `
body{font:15px/1.5 system-ui,sans-serif;margin:0;background:#f7f7f8;color:#1b1b1f}
main{max-width:960px;margin:0 auto;padding:1.5rem}
details{background:#fff;border:1px solid #ddd;border-radius:6px;margin:.5rem 0;padding:.5rem .8rem}
summary{cursor:pointer}
pre{background:#f0f0f3;padding:.6rem;overflow:auto;font-size:13px}
.m{display:inline-block;min-width:4.5em;font-weight:700;font-family:monospace}
.get{color:#0a6}.post{color:#06c}.patch{color:#a60}.delete{color:#c22}
`;
