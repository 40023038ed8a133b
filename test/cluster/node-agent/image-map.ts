// TEST INFRASTRUCTURE. The node agent has no container runtime and no image store: it runs
// conclab's OWN images as local processes of this checkout. This is the documented map from an
// image reference to the local entrypoint that stands in for the image's ENTRYPOINT, plus the
// image's own environment (its Dockerfile ENV). Any other image cannot run here and its pod
// fails with reason ImageNotRunnable, naming the image and what is known.
import { accessSync, constants } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export interface LocalImage {
  /** Which entry of the map matched, for messages and the status imageID. */
  readonly entry: string;
  /** Stands in for the image's ENTRYPOINT; the container's `args` are appended (or `command` replaces it). */
  readonly entrypoint: readonly string[];
  /** The image's own environment (Dockerfile ENV); the container's env overrides it. */
  readonly env: Readonly<Record<string, string>>;
  /** Working directory, as the image's WORKDIR. */
  readonly cwd: string;
}

export type ImageResolution =
  | { readonly ok: true; readonly image: LocalImage }
  | { readonly ok: false; readonly reason: string };

export interface ImageMapOptions {
  /** Node.js binary for conclab's images (default: this process's, the pinned Node 24). */
  readonly nodePath?: string;
  /** Where to look for a k6 binary (default: PATH). */
  readonly pathEnv?: string;
}

/** Repository without its tag or digest: `conclab/conclab:0.1.0` -> `conclab/conclab`. */
export function imageRepository(image: string): string {
  const withoutDigest = image.split('@')[0] ?? image;
  const lastSlash = withoutDigest.lastIndexOf('/');
  const colon = withoutDigest.lastIndexOf(':');
  return colon > lastSlash ? withoutDigest.slice(0, colon) : withoutDigest;
}

/** Finds an executable on a PATH string, or undefined. */
export function findOnPath(binary: string, pathEnv: string): string | undefined {
  for (const dir of pathEnv.split(':')) {
    if (!dir) continue;
    const candidate = path.join(dir, binary);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // Not here.
    }
  }
  return undefined;
}

/**
 * The map (README: "Image map"). Matching is by repository, so any tag of conclab's images runs
 * this checkout's code; a registry host prefix is ignored (`host/conclab/conclab` matches too).
 *
 * | image repository         | local entrypoint                                       |
 * | conclab/workload-node    | NODE workloads/node/main.ts (Dockerfile: NODE_ENV=production) |
 * | conclab/conclab          | NODE operator/cli/conclab.js (the `conclab` bin; args are the command) |
 * | grafana/k6               | `k6` from PATH when there is one, else not runnable    |
 */
export function resolveImage(image: string, options: ImageMapOptions = {}): ImageResolution {
  const node = options.nodePath ?? process.execPath;
  const repo = imageRepository(image.trim());
  const endsWith = (name: string) => repo === name || repo.endsWith(`/${name}`);
  if (endsWith('conclab/workload-node')) {
    return {
      ok: true,
      image: {
        entry: 'conclab/workload-node',
        entrypoint: [node, path.join(REPO_ROOT, 'workloads/node/main.ts')],
        env: { NODE_ENV: 'production' },
        cwd: REPO_ROOT,
      },
    };
  }
  if (endsWith('conclab/conclab')) {
    return {
      ok: true,
      image: {
        entry: 'conclab/conclab',
        entrypoint: [node, path.join(REPO_ROOT, 'operator/cli/conclab.js')],
        env: { NODE_ENV: 'production' },
        cwd: REPO_ROOT,
      },
    };
  }
  if (endsWith('grafana/k6')) {
    const k6 = findOnPath('k6', options.pathEnv ?? process.env['PATH'] ?? '');
    if (!k6) {
      return {
        ok: false,
        reason: `image ${image} needs a k6 binary and there is none on PATH on this test node; install k6 or use load.driver: builtin`,
      };
    }
    return { ok: true, image: { entry: 'grafana/k6', entrypoint: [k6], env: {}, cwd: REPO_ROOT } };
  }
  return {
    ok: false,
    reason: `image ${image} is not one this test node agent can run (it runs only conclab/workload-node, conclab/conclab and, when k6 is on PATH, grafana/k6; see test/cluster/README.md "Image map")`,
  };
}

/** The process argv of a container: `command` replaces the entrypoint, `args` follow it (as Docker does). */
export function containerArgv(
  image: LocalImage,
  command: readonly string[] | undefined,
  args: readonly string[] | undefined,
): string[] {
  const base = command && command.length > 0 ? [...command] : [...image.entrypoint];
  return [...base, ...(args ?? [])];
}
