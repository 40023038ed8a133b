// Container images for the real test node, built without Docker or a registry: buildah with
// `--pull=never` on base images made here (test/cluster/images/*.Containerfile over a Debian
// rootfs from mmdebstrap), then the project's own Dockerfiles, unchanged. Every image carries a
// label with a hash of its inputs (its Dockerfile, the files it copies, the IDs of its bases), so
// an unchanged tree rebuilds nothing; containerd gets the same label on import, so an image is
// imported into a node only when it changed. buildah's storage lives in the cache, outside the
// repository: ${CONCLAB_CACHE:-~/.cache/conclab}/containers.
//
// Unqualified names normalize to the docker.io/library/ and docker.io/ forms below, in buildah
// and in the kubelet alike; nothing is ever pulled (pulls are off everywhere here).
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { copyFile, cp, link, mkdir, mkdtemp, rename, rm } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { cacheDir } from './host-state.ts';

const execFileAsync = promisify(execFile);
const repoRoot = join(import.meta.dirname, '..', '..');
const imagesDir = join(import.meta.dirname, 'images');
export const inputsLabel = 'conclab.test.inputs';

export type TestImageName = 'pause' | 'node-base' | 'python-base' | 'workload-node' | 'workload-python' | 'operator';

const projectVersion = (JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string })
  .version;

/** Fully qualified references; the project images carry the version the chart defaults to. */
export const testImages: Readonly<Record<TestImageName, string>> = {
  pause: 'docker.io/conclab/test-pause:1',
  'node-base': 'docker.io/library/node:24-slim',
  'python-base': 'docker.io/library/python:3.12-slim',
  'workload-node': `docker.io/conclab/workload-node:${projectVersion}`,
  'workload-python': `docker.io/conclab/workload-python:${projectVersion}`,
  operator: `docker.io/conclab/conclab:${projectVersion}`,
};

/** The images a node imports by default: what pods run (bases are only for building). */
export const nodeImages: readonly TestImageName[] = ['pause', 'workload-node', 'workload-python', 'operator'];

const projectDockerfiles: Partial<Record<TestImageName, string>> = {
  'workload-node': 'workloads/node/Dockerfile',
  'workload-python': 'workloads/python/Dockerfile',
  operator: 'operator/Dockerfile',
};

/** Debian packages of each stand-in rootfs (minbase + these). */
const rootfsPackages = {
  node: ['ca-certificates', 'passwd'],
  python: ['ca-certificates', 'passwd', 'python3', 'python3-pip', 'python3-venv', 'python-is-python3'],
} as const;

export interface ImageStore {
  readonly root: string;
  readonly runroot: string;
  readonly tmp: string;
  readonly rootfsDir: string;
}

export function imageStore(cache = cacheDir()): ImageStore {
  const base = join(cache, 'containers');
  return {
    root: join(base, 'storage'),
    runroot: join(base, 'run'),
    tmp: join(base, 'tmp'),
    rootfsDir: join(cache, 'images', 'rootfs'),
  };
}

async function runTool(
  command: string,
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; timeoutMillis?: number } = {},
): Promise<string> {
  try {
    const { stdout } = await execFileAsync(command, [...args], {
      env: options.env ?? process.env,
      maxBuffer: 64 * 1024 * 1024,
      timeout: options.timeoutMillis ?? 20 * 60_000,
    });
    return stdout;
  } catch (error) {
    const e = error as { code?: string; stdout?: string; stderr?: string; message: string };
    if (e.code === 'ENOENT') {
      throw new Error(`'${command}' is not installed; run test/prepare.sh (it installs the test node's packages)`);
    }
    const output = `${e.stdout ?? ''}\n${e.stderr ?? ''}`.trim().split('\n').slice(-30).join('\n');
    throw new Error(`${command} ${args.slice(0, 3).join(' ')} ... failed:\n${output || e.message}`);
  }
}

function buildah(store: ImageStore, args: readonly string[]): Promise<string> {
  return runTool(
    'buildah',
    ['--root', store.root, '--runroot', store.runroot, '--storage-driver', 'overlay', ...args],
    { env: { ...process.env, TMPDIR: store.tmp } },
  );
}

/** The inputs label of an image in buildah's store, or undefined when the image is absent. */
async function buildahLabel(store: ImageStore, reference: string): Promise<string | undefined> {
  const info = await imageInfo(store, reference);
  return info?.labels[inputsLabel];
}

async function imageInfo(
  store: ImageStore,
  reference: string,
): Promise<{ id: string; labels: Record<string, string> } | undefined> {
  let text: string;
  try {
    text = await buildah(store, ['inspect', '--type', 'image', reference]);
  } catch {
    return undefined;
  }
  const parsed = JSON.parse(text) as { FromImageID?: string; OCIv1?: { config?: { Labels?: Record<string, string> } } };
  return { id: parsed.FromImageID ?? '', labels: parsed.OCIv1?.config?.Labels ?? {} };
}

/** sha256 of a file, streamed (the Node binary is about 120 MB). */
function fileHash(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(path)
      .on('data', (chunk) => hash.update(chunk))
      .on('error', reject)
      .on('end', () => resolve(hash.digest('hex')));
  });
}

/** Every regular file at or under `path`, sorted; symlinks count by their target text. */
function listFiles(path: string): string[] {
  const stat = statSync(path, { throwIfNoEntry: false });
  if (!stat) throw new Error(`${path} does not exist (a Dockerfile COPY source or a base image input)`);
  if (!stat.isDirectory()) return [path];
  return readdirSync(path, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() || entry.isSymbolicLink())
    .map((entry) => join(entry.parentPath, entry.name))
    .sort();
}

/** One hash over named parts and files: names, relative paths, modes and contents all count. */
async function inputsHash(parts: readonly string[], files: readonly { root: string; path: string }[]): Promise<string> {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(`${part}\0`);
  for (const { root, path } of files) {
    for (const file of listFiles(path)) {
      const stat = statSync(file);
      hash.update(`${relative(root, file)}\0${stat.mode & 0o777}\0${await fileHash(file)}\0`);
    }
  }
  return hash.digest('hex').slice(0, 32);
}

/**
 * The sources of COPY and ADD instructions in a Dockerfile (relative to its context), in order.
 * Continuation lines are joined; flags (--chown=...) and the destination are dropped; a
 * `--from=` stage copy has no context sources. Pure, for table tests.
 */
export function copySources(dockerfile: string): string[] {
  const joined = dockerfile.replace(/\\\r?\n/g, ' ');
  const sources: string[] = [];
  for (const raw of joined.split(/\r?\n/)) {
    const line = raw.trim();
    const match = /^(COPY|ADD)\s+(.*)$/i.exec(line);
    if (!match) continue;
    let rest = (match[2] ?? '').trim();
    const flags: string[] = [];
    while (rest.startsWith('--')) {
      const [flag = '', ...others] = rest.split(/\s+/);
      flags.push(flag);
      rest = others.join(' ');
    }
    if (flags.some((flag) => flag.startsWith('--from='))) continue;
    const args = rest.startsWith('[') ? (JSON.parse(rest) as string[]) : rest.split(/\s+/);
    sources.push(...args.slice(0, -1));
  }
  return sources;
}

/** Base image references of a Dockerfile's FROM lines (stage names and scratch excluded). Pure. */
export function fromImages(dockerfile: string): string[] {
  const stages = new Set<string>();
  const bases: string[] = [];
  for (const raw of dockerfile.split(/\r?\n/)) {
    const match = /^\s*FROM\s+(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?/i.exec(raw);
    if (!match?.[1]) continue;
    const image = match[1];
    if (image !== 'scratch' && !stages.has(image)) bases.push(image);
    if (match[2]) stages.add(match[2]);
  }
  return bases;
}

/** The fully qualified form buildah and the kubelet give an unqualified reference. Pure. */
export function qualifiedReference(reference: string): string {
  const first = reference.split('/')[0] ?? '';
  const hasRegistry = reference.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost');
  if (hasRegistry) return reference;
  const path = reference.includes('/') ? reference : `library/${reference}`;
  return `docker.io/${path}`;
}

/** The pause binary build.sh made (its cache key is a hash of its source, as build.sh computes it). */
export function pauseBinary(cache = cacheDir()): string {
  const source = ['go.mod', 'main.go'].map((name) => readFileSync(join(imagesDir, 'pause', name)));
  const hash = createHash('sha256').update(Buffer.concat(source)).digest('hex').slice(0, 12);
  return join(cache, 'bin', `pause-${hash}`, 'pause');
}

/** The npm package directory of the npm on PATH (copied into the Node base image). */
function npmPackageDir(): string {
  const candidates = (process.env.PATH ?? '').split(':').map((dir) => join(dir, 'npm'));
  for (const candidate of candidates) {
    if (!existsSync(candidate)) continue;
    const cli = realpathSync(candidate); // .../node_modules/npm/bin/npm-cli.js
    const dir = join(cli, '..', '..');
    if (existsSync(join(dir, 'package.json'))) return dir;
  }
  throw new Error('npm not found on PATH (needed for the Node base image)');
}

const nodeBinary = join(repoRoot, 'node_modules', 'node', 'bin', 'node');
const hostCaBundle = '/etc/ssl/certs/ca-certificates.crt';

async function ensureRootfs(store: ImageStore, kind: keyof typeof rootfsPackages, log: Logger): Promise<string> {
  const args = ['--variant=minbase', `--include=${rootfsPackages[kind].join(',')}`, 'bookworm'];
  const key = createHash('sha256').update(args.join(' ')).digest('hex').slice(0, 12);
  const path = join(store.rootfsDir, `bookworm-${kind}-${key}.tar`);
  if (existsSync(path)) return path;
  await mkdir(store.rootfsDir, { recursive: true });
  const started = Date.now();
  // mmdebstrap picks its output format by the name's extension: the temp name ends in .tar too.
  const temp = join(store.rootfsDir, `.partial-${process.pid}-bookworm-${kind}.tar`);
  await runTool('mmdebstrap', ['--quiet', ...args, temp]);
  await rename(temp, path);
  log(`rootfs ${kind}: mmdebstrap in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return path;
}

export type Logger = (line: string) => void;

interface Plan {
  readonly hash: string;
  build(): Promise<void>;
}

async function planImage(store: ImageStore, name: TestImageName, log: Logger): Promise<Plan> {
  const reference = testImages[name];
  const labelArgs = (hash: string): string[] => ['--label', `${inputsLabel}=${hash}`];
  const bud = (hash: string, file: string, context: string): Promise<string> =>
    buildah(store, [
      'bud',
      '--pull=never',
      '--isolation=chroot',
      '--network=host',
      // Layer cache: a change to the copied sources reruns only the steps after the COPY that
      // changed, so `npm ci` reruns only when package.json or the lock file changed.
      '--layers=true',
      '--quiet',
      ...labelArgs(hash),
      '-t',
      reference,
      '-f',
      file,
      context,
    ]);
  // A base image's context is assembled in a temp dir under buildah's tmp.
  const withContext = async (fill: (dir: string) => Promise<void>, run: (dir: string) => Promise<unknown>) => {
    await mkdir(store.tmp, { recursive: true });
    const dir = await mkdtemp(join(store.tmp, `context-${name}-`));
    try {
      await fill(dir);
      await run(dir);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  };

  if (name === 'pause') {
    const binary = pauseBinary();
    if (!existsSync(binary)) throw new Error(`${binary} is missing; build it with: test/cluster/build.sh pause`);
    const file = join(imagesDir, 'pause.Containerfile');
    const hash = await inputsHash([readFileSync(file, 'utf8')], [{ root: join(binary, '..'), path: binary }]);
    return {
      hash,
      build: () =>
        withContext(
          (dir) => copyFile(binary, join(dir, 'pause')),
          (dir) => bud(hash, file, dir),
        ),
    };
  }

  if (name === 'node-base' || name === 'python-base') {
    const kind = name === 'node-base' ? 'node' : 'python';
    const file = join(imagesDir, `${name}.Containerfile`);
    const rootfs = await ensureRootfs(store, kind, log);
    const npm = kind === 'node' ? npmPackageDir() : undefined;
    const files = [
      { root: '/etc/ssl/certs', path: hostCaBundle },
      ...(kind === 'node' ? [{ root: join(nodeBinary, '..'), path: nodeBinary }] : []),
      ...(npm ? [{ root: join(npm, '..'), path: npm }] : []),
    ];
    const hash = await inputsHash([readFileSync(file, 'utf8'), rootfs], files);
    return {
      hash,
      build: () =>
        withContext(
          async (dir) => {
            await link(rootfs, join(dir, 'rootfs.tar')).catch(() => copyFile(rootfs, join(dir, 'rootfs.tar')));
            await copyFile(hostCaBundle, join(dir, 'host-ca-certificates.crt'));
            if (kind === 'node' && npm) {
              await copyFile(nodeBinary, join(dir, 'node'));
              await cp(npm, join(dir, 'npm'), { recursive: true, verbatimSymlinks: true });
            }
          },
          (dir) => bud(hash, file, dir),
        ),
    };
  }

  const dockerfile = projectDockerfiles[name];
  if (!dockerfile) throw new Error(`no Dockerfile known for image ${name}`);
  const text = readFileSync(join(repoRoot, dockerfile), 'utf8');
  const baseIds: string[] = [];
  for (const base of fromImages(text)) {
    const info = await imageInfo(store, qualifiedReference(base));
    if (!info) throw new Error(`${dockerfile} needs base image ${base}, which is not in the test image store`);
    baseIds.push(`${base}=${info.id}`);
  }
  const sources = copySources(text).map((source) => ({ root: repoRoot, path: join(repoRoot, source) }));
  const hash = await inputsHash([text, ...baseIds], sources);
  return { hash, build: () => bud(hash, join(repoRoot, dockerfile), repoRoot).then(() => undefined) };
}

/** Size of buildah's store beyond which untagged images and the layer cache are dropped. */
const storeLimitBytes = 6 * 2 ** 30;

async function storeBytes(store: ImageStore): Promise<number> {
  const out = await runTool('du', ['-sb', store.root]).catch(() => '0');
  return Number(out.split(/\s/)[0]) || 0;
}

/** Which base a project image is built on (so bases are ensured first). */
const dependencies: Readonly<Record<TestImageName, readonly TestImageName[]>> = {
  pause: [],
  'node-base': [],
  'python-base': [],
  'workload-node': ['node-base'],
  operator: ['node-base'],
  'workload-python': ['python-base'],
};

export interface EnsuredImage {
  readonly name: TestImageName;
  readonly reference: string;
  readonly hash: string;
  readonly built: boolean;
  readonly millis: number;
}

/**
 * Builds each named image (and the bases it needs) unless buildah's store already holds it with
 * the same inputs hash. Not safe to run twice at once on one store: callers go through
 * test/cluster/build-images.ts, which takes a lock.
 */
export async function ensureImages(
  names: readonly TestImageName[],
  log: Logger = () => {},
  store = imageStore(),
): Promise<EnsuredImage[]> {
  await Promise.all([store.root, store.runroot, store.tmp].map((dir) => mkdir(dir, { recursive: true })));
  const order: TestImageName[] = [];
  const visit = (name: TestImageName): void => {
    for (const dep of dependencies[name]) visit(dep);
    if (!order.includes(name)) order.push(name);
  };
  for (const name of names) visit(name);
  const results: EnsuredImage[] = [];
  let built = false;
  for (const name of order) {
    const started = Date.now();
    const plan = await planImage(store, name, log);
    const current = await buildahLabel(store, testImages[name]);
    if (current === plan.hash) {
      results.push({ name, reference: testImages[name], hash: plan.hash, built: false, millis: Date.now() - started });
      continue;
    }
    await plan.build();
    built = true;
    const millis = Date.now() - started;
    log(`image ${testImages[name]}: built in ${(millis / 1000).toFixed(1)} s (inputs ${plan.hash.slice(0, 12)})`);
    results.push({ name, reference: testImages[name], hash: plan.hash, built: true, millis });
  }
  // Rebuilt images leave their predecessors and the layer cache behind: bound the store's size by
  // dropping every untagged image (the cache included) once it grows past the limit.
  if (built && (await storeBytes(store)) > storeLimitBytes) {
    log(`image store over ${storeLimitBytes >> 30} GiB: pruning untagged images and the layer cache`);
    await buildah(store, ['rmi', '--prune']).catch(() => undefined);
  }
  return results;
}

/** Labels of images in a containerd namespace, by reference (from `ctr images ls`). */
async function containerdLabels(socket: string): Promise<Map<string, Record<string, string>>> {
  const text = await runTool('ctr', ['--address', socket, '--namespace', 'k8s.io', 'images', 'ls']);
  const labels = new Map<string, Record<string, string>>();
  for (const line of text.split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    const ref = fields[0];
    if (!ref) continue;
    const pairs: Record<string, string> = {};
    for (const field of fields.slice(1)) {
      for (const pair of field.split(',')) {
        const eq = pair.indexOf('=');
        if (eq > 0) pairs[pair.slice(0, eq)] = pair.slice(eq + 1);
      }
    }
    labels.set(ref, pairs);
  }
  return labels;
}

/**
 * Imports the images into the containerd at `socket` (namespace k8s.io, unpacked for the CRI),
 * skipping those it already holds with the same inputs hash. The images must be built already.
 */
export async function importImages(
  socket: string,
  names: readonly TestImageName[],
  log: Logger = () => {},
  store = imageStore(),
): Promise<{ imported: TestImageName[]; millis: number }> {
  const started = Date.now();
  const present = await containerdLabels(socket);
  const imported: TestImageName[] = [];
  for (const name of names) {
    const reference = testImages[name];
    const hash = await buildahLabel(store, reference);
    if (!hash) throw new Error(`image ${reference} is not built; run test/cluster/build-images.ts (npm test does)`);
    if (present.get(reference)?.[inputsLabel] === hash) continue;
    await mkdir(store.tmp, { recursive: true });
    const archive = join(store.tmp, `${name}-${process.pid}.tar`);
    try {
      const t0 = Date.now();
      await buildah(store, ['push', '--quiet', reference, `docker-archive:${archive}:${reference}`]);
      // An import over an older image of the same name drops that image's references while it
      // unpacks, and containerd's garbage collector can then delete a layer snapshot the unpack
      // has already counted on ("parent snapshot ... does not exist: not found", containerd
      // issue 3787; CI met it when the operator image changed). So the older image goes first,
      // with its garbage collected before `--sync` returns, and nothing is left to collect
      // during the import.
      if (present.has(reference)) {
        await runTool('ctr', ['--address', socket, '--namespace', 'k8s.io', 'images', 'rm', '--sync', reference]);
      }
      await runTool('ctr', ['--address', socket, '--namespace', 'k8s.io', 'images', 'import', archive]);
      await runTool('ctr', [
        '--address',
        socket,
        '--namespace',
        'k8s.io',
        'images',
        'label',
        reference,
        `${inputsLabel}=${hash}`,
      ]);
      log(`image ${reference}: imported into containerd in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      imported.push(name);
    } finally {
      await rm(archive, { force: true });
    }
  }
  return { imported, millis: Date.now() - started };
}
