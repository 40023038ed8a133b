// TEST INFRASTRUCTURE. A container's environment and paths as the kubelet would give them, for a
// local process: env values and valueFrom (downward API fieldRef, secretKeyRef, configMapKeyRef)
// resolved, and volume mount paths mapped to directories on this machine. Without a mount
// namespace a process cannot see `/scripts`, so the agent rewrites every argument and env value
// that names a path under a mount (`/scripts/script.js` -> `<pod dir>/volumes/script/script.js`),
// and sets TMPDIR when a volume is mounted at /tmp. File CONTENTS are not rewritten. Pure.
import type { V1Container, V1EnvVar, V1Pod } from '@kubernetes/client-node';

export interface EnvLookups {
  /** Value of key in Secret name (same namespace), or undefined when absent. */
  secret(name: string, key: string): string | undefined;
  /** Value of key in ConfigMap name, or undefined when absent. */
  configMap(name: string, key: string): string | undefined;
}

export class EnvError extends Error {}

/** The value of a downward-API field path for this pod (the ones pods use for their env). */
export function fieldValue(pod: V1Pod, fieldPath: string, podIP: string, hostIP: string): string {
  const m = pod.metadata ?? {};
  switch (fieldPath) {
    case 'status.podIP':
      return podIP;
    case 'status.podIPs':
      return podIP;
    case 'status.hostIP':
    case 'status.hostIPs':
      return hostIP;
    case 'metadata.name':
      return m.name ?? '';
    case 'metadata.namespace':
      return m.namespace ?? '';
    case 'metadata.uid':
      return m.uid ?? '';
    case 'spec.nodeName':
      return pod.spec?.nodeName ?? '';
    case 'spec.serviceAccountName':
      return pod.spec?.serviceAccountName ?? '';
  }
  const label = /^metadata\.labels\['(.+)'\]$/.exec(fieldPath);
  if (label?.[1]) return m.labels?.[label[1]] ?? '';
  const annotation = /^metadata\.annotations\['(.+)'\]$/.exec(fieldPath);
  if (annotation?.[1]) return m.annotations?.[annotation[1]] ?? '';
  throw new EnvError(`fieldRef ${fieldPath} is not supported by the test node agent`);
}

// $(VAR) references to earlier variables, as the kubelet expands them; $$ escapes.
function expand(value: string, env: Record<string, string>): string {
  return value.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (all, name: string | undefined) => {
    if (all === '$$') return '$';
    return name !== undefined && name in env ? (env[name] as string) : all;
  });
}

/** The container's env (declared order, later wins), or EnvError naming what is missing (kubelet: CreateContainerConfigError). */
export function resolveEnv(
  pod: V1Pod,
  container: V1Container,
  addresses: { podIP: string; hostIP: string },
  lookups: EnvLookups,
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const e of container.env ?? []) env[e.name] = resolveOne(pod, e, env, addresses, lookups);
  return env;
}

function resolveOne(
  pod: V1Pod,
  e: V1EnvVar,
  env: Record<string, string>,
  addresses: { podIP: string; hostIP: string },
  lookups: EnvLookups,
): string {
  if (e.value !== undefined) return expand(e.value, env);
  const from = e.valueFrom;
  if (!from) return '';
  if (from.fieldRef) return fieldValue(pod, from.fieldRef.fieldPath, addresses.podIP, addresses.hostIP);
  if (from.secretKeyRef) {
    const { name = '', key } = from.secretKeyRef;
    const v = lookups.secret(name, key);
    if (v === undefined && !from.secretKeyRef.optional) {
      throw new EnvError(`secret "${name}" (key "${key}") not found for env ${e.name}`);
    }
    return v ?? '';
  }
  if (from.configMapKeyRef) {
    const { name = '', key } = from.configMapKeyRef;
    const v = lookups.configMap(name, key);
    if (v === undefined && !from.configMapKeyRef.optional) {
      throw new EnvError(`configmap "${name}" (key "${key}") not found for env ${e.name}`);
    }
    return v ?? '';
  }
  throw new EnvError(`env ${e.name}: resourceFieldRef and other sources are not supported by the test node agent`);
}

/** mountPath -> local directory, longest first so nested mounts win. */
export type PathMap = readonly (readonly [string, string])[];

export function mountPathMap(container: V1Container, volumeDir: (volume: string) => string): PathMap {
  return (container.volumeMounts ?? [])
    .map((m) => [m.mountPath.replace(/\/+$/, '') || '/', volumeDir(m.name)] as const)
    .sort((a, b) => b[0].length - a[0].length);
}

/** Rewrites a path under a mount to its local directory; other text is returned unchanged. */
export function mapPath(text: string, map: PathMap): string {
  for (const [mount, local] of map) {
    if (mount === '/') continue; // never remap everything
    if (text === mount) return local;
    if (text.startsWith(`${mount}/`)) return local + text.slice(mount.length);
  }
  return text;
}

/** An argument, or the value part of `--flag=VALUE`, mapped. */
export function mapArg(arg: string, map: PathMap): string {
  const direct = mapPath(arg, map);
  if (direct !== arg) return direct;
  const eq = arg.indexOf('=');
  if (eq > 0) {
    const value = arg.slice(eq + 1);
    const mapped = mapPath(value, map);
    if (mapped !== value) return `${arg.slice(0, eq + 1)}${mapped}`;
  }
  return arg;
}

export function mapEnv(env: Record<string, string>, map: PathMap): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) out[k] = mapPath(v, map);
  const tmp = map.find(([mount]) => mount === '/tmp');
  if (tmp && out['TMPDIR'] === undefined) out['TMPDIR'] = tmp[1];
  return out;
}
