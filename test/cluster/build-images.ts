// `node test/cluster/build-images.ts [image...]`: builds the real test node's images (default:
// every image a node imports, with their bases) into buildah's store in the cache, rebuilding
// only what changed. One build at a time per cache: it re-runs itself under flock(1).
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { cacheDir } from './host-state.ts';
import { ensureImages, nodeImages, type TestImageName, testImages } from './images.ts';

const names = process.argv.slice(2) as TestImageName[];
for (const name of names) {
  if (!(name in testImages)) {
    console.error(`build-images: unknown image "${name}" (expected one of: ${Object.keys(testImages).join(', ')})`);
    process.exit(2);
  }
}

if (process.env.CONCLAB_IMAGES_LOCKED !== '1') {
  const lockDir = join(cacheDir(), 'images');
  mkdirSync(lockDir, { recursive: true });
  const locked = spawnSync(
    'flock',
    [join(lockDir, '.build.lock'), process.execPath, import.meta.filename, ...process.argv.slice(2)],
    { stdio: 'inherit', env: { ...process.env, CONCLAB_IMAGES_LOCKED: '1' } },
  );
  if (locked.error) {
    console.error(`build-images: could not run flock (${locked.error.message}); install util-linux`);
    process.exit(1);
  }
  process.exit(locked.status ?? 1);
}

const started = Date.now();
try {
  const results = await ensureImages(names.length > 0 ? names : nodeImages, (line) =>
    console.log(`build-images: ${line}`),
  );
  for (const image of results.filter((r) => !r.built)) console.log(`build-images: cached ${image.reference}`);
  console.log(`build-images: done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
} catch (error) {
  console.error(`build-images: ${(error as Error).message}`);
  process.exit(1);
}
