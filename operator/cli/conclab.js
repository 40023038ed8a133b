#!/usr/bin/env node
// The `conclab` bin. conclab's TypeScript runs directly on Node's type stripping (Node >= 24),
// so this shim only checks the runtime before loading it and says how to get the right one.
const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
if (major < 24 || (major === 24 && minor < 12)) {
  console.error(
    `conclab needs Node.js >= 24.12, but this is ${process.version}.\n` +
      'Fix: run it through npm (npx conclab ... or npm run ...), which puts the pinned Node 24 from ' +
      'devDependencies first on PATH, after `npm install` in the conclab checkout.',
  );
  process.exit(2);
}
const { main } = await import('./main.ts');
// exitCode, not exit(): let stdout and stderr drain when they are pipes.
process.exitCode = await main(process.argv.slice(2));
