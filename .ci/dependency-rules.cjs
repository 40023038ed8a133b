// The layering of operator/, checked by dependency-cruiser in .ci/run (`npm run deps`):
//
//   cli, controller  ->  engine  ->  runtime, load, telemetry, analysis, report  ->  api  ->  contracts
//
// Each folder may import only the layers below it (report may also read analysis). The bottom
// layer, operator/contracts (the record types every layer exchanges), imports nothing of the
// project. workloads/ are built into their own images and import nothing of operator/.
const LAYERS = {
  contracts: [],
  api: ['contracts'],
  analysis: ['api', 'contracts'],
  load: ['api', 'contracts'],
  telemetry: ['api', 'contracts'],
  runtime: ['api', 'contracts'],
  report: ['analysis', 'api', 'contracts'],
  engine: ['runtime', 'load', 'telemetry', 'analysis', 'report', 'api', 'contracts'],
  controller: ['engine', 'runtime', 'load', 'telemetry', 'analysis', 'report', 'api', 'contracts'],
  cli: ['controller', 'engine', 'runtime', 'load', 'telemetry', 'analysis', 'report', 'api', 'contracts'],
};

const forbidden = Object.entries(LAYERS).map(([layer, allowed]) => ({
  name: `${layer}-imports-only-below`,
  comment: `operator/${layer} may import only ${allowed.length ? allowed.map((l) => `operator/${l}`).join(', ') : 'npm packages and node: builtins'} (see .ci/dependency-rules.cjs)`,
  severity: 'error',
  from: { path: `^operator/${layer}/` },
  to: { path: '^operator/', pathNot: `^operator/(${[layer, ...allowed].join('|')})/` },
}));

forbidden.push(
  {
    name: 'workloads-only-contract-types',
    comment:
      'workloads/ are built into their own images: the only thing they take from operator/ is the types of the contract they honour (operator/contracts, as `import type`, which Node strips)',
    severity: 'error',
    from: { path: '^workloads/' },
    to: { path: '^operator/', pathNot: '^operator/contracts/' },
  },
  {
    name: 'no-circular',
    comment: 'a cycle means two modules are one concept: merge them or split out what both need',
    severity: 'error',
    from: { path: '^operator/' },
    to: { circular: true },
  },
);

module.exports = {
  forbidden,
  options: {
    // TypeScript 7 ships no compiler API; swc parses the erasable TypeScript we write.
    parser: 'swc',
    tsPreCompilationDeps: true,
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(node_modules|test|bench)/' },
  },
};
