import type { V1CustomResourceDefinition } from '@kubernetes/client-node';
import test from 'ava';
import { establishedOrWhyNot } from './crd-established.ts';

const crd = (conditions?: { type: string; status: string; reason?: string; message?: string }[]) =>
  ({ status: conditions ? { conditions } : {} }) as unknown as V1CustomResourceDefinition;

const table: [string, V1CustomResourceDefinition | undefined, true | RegExp][] = [
  ['a CRD just created has no conditions: not yet, and no error', crd(), /no conditions written yet/],
  ['an empty list of conditions: not yet', crd([]), /no conditions written yet/],
  ['names accepted, not yet established', crd([{ type: 'NamesAccepted', status: 'True' }]), /Established=absent/],
  [
    'names in conflict: says so',
    crd([{ type: 'NamesAccepted', status: 'False', message: '"cx" is already in use' }]),
    /names not accepted: "cx" is already in use/,
  ],
  ['Established=False', crd([{ type: 'Established', status: 'False', message: 'installing' }]), /False \(installing\)/],
  [
    'Established=True',
    crd([
      { type: 'NamesAccepted', status: 'True' },
      { type: 'Established', status: 'True' },
    ]),
    true,
  ],
  ['not found', undefined, /not found/],
];

for (const [name, input, expected] of table) {
  test(name, (t) => {
    const got = establishedOrWhyNot(input);
    if (expected === true) t.is(got, true);
    else t.regex(String(got), expected);
  });
}
