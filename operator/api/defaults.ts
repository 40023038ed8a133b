// Schema defaults, applied the way the API server applies them to a custom resource
// (structural defaulting): a missing property that has a default gets a copy of it, a null
// property with a default (the schema is not nullable) is replaced by it, and defaulting
// recurses into every object and list item. Properties of an object that is itself missing
// are not invented: `spec.slo` absent stays absent. test/api/apiserver.test.ts checks the
// result against a real kube-apiserver.
//
// Written here rather than with typebox/value's Default because loading typebox/value costs
// `conclab validate` about 200 ms of startup, and because this states the API server's rules.

type JsonSchema = Record<string, unknown>;

/** A defaulted copy of `value` (the input is not modified). Values of the wrong type are left as they are. */
export function applyDefaults<T = unknown>(schema: object, value: unknown): T {
  return defaulted(schema as JsonSchema, value) as T;
}

function defaulted(schema: JsonSchema, value: unknown): unknown {
  if (Array.isArray(value)) {
    const items = schema['items'] as JsonSchema | undefined;
    return items === undefined ? [...value] : value.map((item) => defaulted(items, item));
  }
  if (value === null || typeof value !== 'object') return value;
  const properties = schema['properties'] as Record<string, JsonSchema> | undefined;
  const out: Record<string, unknown> = { ...(value as Record<string, unknown>) };
  if (properties === undefined) return out;
  for (const [name, child] of Object.entries(properties)) {
    const present = Object.hasOwn(out, name) && !(out[name] === null && child['nullable'] !== true);
    if (!present && child['default'] !== undefined) out[name] = structuredClone(child['default']);
    if (Object.hasOwn(out, name)) out[name] = defaulted(child, out[name]);
  }
  return out;
}

/**
 * The tracing settings with their defaults. A validated spec always has them, but its type
 * (optional fields with schema defaults) does not say so; every reader goes through this.
 */
export function tracingOf(spec: { tracing?: { enabled?: boolean; sampleRatio?: number } }): {
  enabled: boolean;
  sampleRatio: number;
} {
  return { enabled: spec.tracing?.enabled ?? true, sampleRatio: spec.tracing?.sampleRatio ?? 0.1 };
}
