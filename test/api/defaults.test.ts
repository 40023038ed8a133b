import test from 'ava';
import { applyDefaults } from '../../operator/api/defaults.ts';

const schema = {
  type: 'object',
  properties: {
    a: { type: 'integer', default: 1 },
    b: { type: 'string' },
    list: {
      type: 'array',
      items: { type: 'object', properties: { n: { type: 'integer', default: 7 }, m: { type: 'string' } } },
    },
    inner: { type: 'object', properties: { x: { type: 'boolean', default: true } } },
    withDefault: { type: 'object', default: {}, properties: { y: { type: 'number', default: 0.5 } } },
    nullable: { type: 'string', nullable: true, default: 'z' },
  },
};

const table: Array<[string, unknown, unknown]> = [
  ['a missing property gets its default', {}, { a: 1, withDefault: { y: 0.5 }, nullable: 'z' }],
  ['a present property is kept', { a: 5 }, { a: 5, withDefault: { y: 0.5 }, nullable: 'z' }],
  [
    'null is replaced by the default when the field is not nullable',
    { a: null },
    { a: 1, withDefault: { y: 0.5 }, nullable: 'z' },
  ],
  ['null is kept when the field is nullable', { nullable: null }, { a: 1, withDefault: { y: 0.5 }, nullable: null }],
  [
    'list items are defaulted one by one',
    { list: [{}, { n: 2, m: 'q' }] },
    { a: 1, list: [{ n: 7 }, { n: 2, m: 'q' }], withDefault: { y: 0.5 }, nullable: 'z' },
  ],
  ['a missing object without default stays missing', {}, { a: 1, withDefault: { y: 0.5 }, nullable: 'z' }],
  [
    'a present object is defaulted inside',
    { inner: {} },
    { a: 1, inner: { x: true }, withDefault: { y: 0.5 }, nullable: 'z' },
  ],
  ['a defaulted object is defaulted inside too', {}, { a: 1, withDefault: { y: 0.5 }, nullable: 'z' }],
  [
    'a value of the wrong type is left for the schema check',
    { a: 'one', list: 'x' },
    { a: 'one', list: 'x', withDefault: { y: 0.5 }, nullable: 'z' },
  ],
  [
    'unknown properties are kept for the schema check to report',
    { zz: 1 },
    { zz: 1, a: 1, withDefault: { y: 0.5 }, nullable: 'z' },
  ],
  ['a non-object is returned as it is', 'text', 'text'],
];

for (const [name, input, expected] of table) {
  test(name, (t) => {
    t.deepEqual(applyDefaults(schema, input), expected);
  });
}

test('the input is not modified and defaults are copies', (t) => {
  const input = { list: [{}] };
  const first = applyDefaults<{ withDefault: { y: number } }>(schema, input);
  t.deepEqual(input, { list: [{}] });
  first.withDefault.y = 9;
  t.deepEqual(applyDefaults<{ withDefault: unknown }>(schema, {}).withDefault, { y: 0.5 });
});
