import { expect } from 'vitest';
import { call } from '../helpers';

// A small JSON Schema (OpenAPI 3.1) validator and a recorder that checks real answers against /openapi.json:
// the status is declared for the operation, the media type is declared, the body validates against the declared
// schema (objects are treated as closed: a field the schema lacks is reported), and the headers the answer carries
// (ETag, Location, Retry-After, WWW-Authenticate, Allow) are declared, and the declared ones are sent.

type Json = Record<string, unknown>;
export interface Schema {
  $ref?: string;
  type?: string | string[];
  properties?: Record<string, Schema>;
  required?: string[];
  additionalProperties?: boolean | Schema;
  items?: Schema;
  enum?: unknown[];
  allOf?: Schema[];
  anyOf?: Schema[];
  oneOf?: Schema[];
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  minItems?: number;
  maxItems?: number;
  pattern?: string;
  format?: string;
  default?: unknown;
  description?: string;
}
export interface Operation {
  parameters?: { name: string; in: string; required?: boolean; schema: Schema }[];
  requestBody?: { required?: boolean; content: Record<string, { schema: Schema }> };
  responses: Record<
    string,
    { headers?: Record<string, { schema: Schema }>; content?: Record<string, { schema: Schema }> }
  >;
  security?: unknown[];
}
export interface Doc {
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, Schema> };
  security?: unknown[];
}

export async function loadDoc(): Promise<Doc> {
  const res = await call('/openapi.json');
  expect(res.status).toBe(200);
  return (await res.json()) as Doc;
}

function resolve(doc: Doc, schema: Schema): Schema {
  if (!schema.$ref) return schema;
  const name = schema.$ref.replace('#/components/schemas/', '');
  const target = doc.components.schemas[name];
  if (!target) throw new Error(`unresolved ${schema.$ref}`);
  return resolve(doc, target);
}

/** Every property name a schema allows, following $ref and allOf. */
function propertyNames(doc: Doc, schema: Schema): Set<string> | 'open' {
  const s = resolve(doc, schema);
  if (s.additionalProperties !== undefined && s.additionalProperties !== false) return 'open';
  const names = new Set(Object.keys(s.properties ?? {}));
  for (const part of s.allOf ?? []) {
    const more = propertyNames(doc, part);
    if (more === 'open') return 'open';
    for (const n of more) names.add(n);
  }
  return names;
}

function typeOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

function typeMatches(type: string, value: unknown): boolean {
  if (type === 'integer') return typeof value === 'number' && Number.isInteger(value);
  if (type === 'number') return typeof value === 'number';
  if (type === 'object') return typeOf(value) === 'object';
  return typeOf(value) === type;
}

export function validate(doc: Doc, schema: Schema, value: unknown, at = '$', closed = true): string[] {
  const s = resolve(doc, schema);
  const out: string[] = [];
  if (s.allOf) for (const part of s.allOf) out.push(...validate(doc, part, value, at, false));
  for (const key of ['anyOf', 'oneOf'] as const) {
    const options = s[key];
    if (options && !options.some((o) => validate(doc, o, value, at, closed).length === 0))
      out.push(`${at}: matches none of ${key} (${JSON.stringify(value)})`);
  }
  if (s.type !== undefined) {
    const types = Array.isArray(s.type) ? s.type : [s.type];
    if (!types.some((t) => typeMatches(t, value))) {
      out.push(
        `${at}: is ${typeOf(value)} ${JSON.stringify(value)?.slice(0, 60)}, schema says ${types.join('|')}`,
      );
      return out;
    }
  }
  if (s.enum && !s.enum.includes(value))
    out.push(`${at}: ${JSON.stringify(value)} not in enum ${JSON.stringify(s.enum)}`);
  if (typeof value === 'string') {
    const length = [...value].length;
    if (s.minLength !== undefined && length < s.minLength) out.push(`${at}: shorter than ${s.minLength}`);
    if (s.maxLength !== undefined && length > s.maxLength) out.push(`${at}: longer than ${s.maxLength}`);
    if (s.pattern && !new RegExp(s.pattern, 'u').test(value)) out.push(`${at}: does not match ${s.pattern}`);
  }
  if (typeof value === 'number') {
    if (s.minimum !== undefined && value < s.minimum) out.push(`${at}: below ${s.minimum}`);
    if (s.maximum !== undefined && value > s.maximum) out.push(`${at}: above ${s.maximum}`);
  }
  if (Array.isArray(value)) {
    if (s.minItems !== undefined && value.length < s.minItems)
      out.push(`${at}: fewer than ${s.minItems} items`);
    if (s.maxItems !== undefined && value.length > s.maxItems)
      out.push(`${at}: more than ${s.maxItems} items`);
    if (s.items)
      for (const [i, item] of value.entries()) out.push(...validate(doc, s.items, item, `${at}[${i}]`));
  }
  if (typeOf(value) === 'object') {
    const object = value as Json;
    for (const name of s.required ?? [])
      if (!(name in object)) out.push(`${at}: required field ${name} missing`);
    for (const [name, property] of Object.entries(s.properties ?? {}))
      if (name in object) out.push(...validate(doc, property, object[name], `${at}.${name}`));
    if (closed) {
      const allowed = propertyNames(doc, s);
      if (allowed !== 'open' && (s.properties || s.allOf))
        for (const name of Object.keys(object))
          if (!allowed.has(name)) out.push(`${at}: field ${name} is not in the schema`);
    }
  }
  return out;
}

const INTERESTING_HEADERS = ['etag', 'location', 'retry-after', 'www-authenticate', 'allow'];

/** Checks answers against the document and collects every disagreement. */
export class Contract {
  readonly problems: string[] = [];
  readonly seen = new Map<string, Set<string>>();
  constructor(readonly doc: Doc) {}

  operation(method: string, template: string): Operation {
    const op = this.doc.paths[template]?.[method.toLowerCase()];
    if (!op) throw new Error(`${method} ${template} is not in the document`);
    return op;
  }

  /** Checks one answer of `METHOD template`; returns the parsed body (or null). */
  async check(label: string, method: string, template: string, res: Response): Promise<unknown> {
    const where = `${method} ${template} [${label}] ${res.status}`;
    const op = this.operation(method, template);
    const key = `${method.toUpperCase()} ${template}`;
    if (!this.seen.has(key)) this.seen.set(key, new Set());
    this.seen.get(key)!.add(String(res.status));
    const text = method.toUpperCase() === 'HEAD' ? '' : await res.text();
    const declared = op.responses[String(res.status)];
    if (!declared) {
      this.problems.push(`${where}: status not declared (body ${text.slice(0, 160)})`);
      return text ? safeJson(text) : null;
    }
    // Headers.
    const declaredHeaders = Object.keys(declared.headers ?? {}).map((h) => h.toLowerCase());
    for (const h of INTERESTING_HEADERS)
      if (res.headers.has(h) && !declaredHeaders.includes(h))
        this.problems.push(
          `${where}: sends ${h} (${res.headers.get(h)}) but the response declares no such header`,
        );
    for (const h of declaredHeaders)
      if (!res.headers.has(h)) this.problems.push(`${where}: declared header ${h} is missing`);
    if (res.headers.get('retry-after') !== null && !/^\d+$/.test(res.headers.get('retry-after')!))
      this.problems.push(`${where}: Retry-After ${res.headers.get('retry-after')} is not an integer`);
    if (template.startsWith('/api/v1/') && res.headers.get('cache-control') !== 'no-store')
      this.problems.push(
        `${where}: Cache-Control is ${res.headers.get('cache-control')}, README says no-store`,
      );
    // Body.
    const content = declared.content;
    if (!content) {
      if (text !== '')
        this.problems.push(`${where}: body sent where none is declared: ${text.slice(0, 100)}`);
      return null;
    }
    if (method.toUpperCase() === 'HEAD') return null;
    const type = (res.headers.get('content-type') ?? '').split(';')[0]!.trim();
    const media = content[type];
    if (!media) {
      this.problems.push(
        `${where}: Content-Type ${type} not among declared ${Object.keys(content).join(', ')}`,
      );
      return safeJson(text);
    }
    const body = safeJson(text);
    for (const p of validate(this.doc, media.schema, body)) this.problems.push(`${where}: ${p}`);
    return body;
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
