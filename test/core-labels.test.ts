/**
 * Labels (checked at definition and at add(), prefixed, defaulting to the
 * property name) and the types TypeScript infers for a model's instance. This
 * file is compiled by tsc in `npm test`: the @ts-expect-error lines fail the
 * build if the types stop catching mistakes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defineModel, field, openStats, StatsReader, MmstatsError } from '../src/index.js';
import { runScript, tempStatsDir } from './helpers/proc.js';

const labelError = (pattern?: RegExp) => (err: unknown) => {
  assert.ok(err instanceof MmstatsError, `an MmstatsError, not ${String(err)}`);
  assert.equal(err.code, 'ERR_MMSTATS_LABEL');
  if (pattern) assert.match(err.message, pattern);
  return true;
};

const BAD_LABELS: [string, string, RegExp][] = [
  ['empty', '', /empty/],
  ['a space', 'web requests', /whitespace or control/],
  ['a tab', 'web\trequests', /whitespace or control/],
  ['a newline', 'web.requests\n', /whitespace or control/],
  ['a control character', 'web.\u0007bell', /whitespace or control/],
  ['more than 1024 bytes', 'é'.repeat(513), /longer than 1024 bytes/],
];

for (const [what, label, pattern] of BAD_LABELS) {
  test(`a label with ${what} is refused at definition and at add()`, () => {
    assert.throws(() => defineModel('Bad', { x: field.counter({ label }) }), labelError(pattern));
    const dir = tempStatsDir();
    const stats = openStats({ name: 'Bad', path: dir });
    try {
      assert.throws(() => stats.add(label, field.counter()), labelError(pattern));
      assert.throws(() => stats.add('ok', field.counter({ label })), labelError(pattern));
    } finally {
      stats.remove();
    }
  });
}

test('a duplicate label is refused at definition, naming the label and the model', () => {
  assert.throws(
    () => defineModel('Dup', { a: field.counter({ label: 'same' }), b: field.gauge({ label: 'same' }) }),
    labelError(/label same is used twice in model Dup/),
  );
  // A prefixed default label can collide with an explicit one.
  assert.throws(
    () => defineModel('Dup2', { hits: field.counter(), other: field.counter({ label: 'web.hits' }) }, { prefix: 'web.' }),
    labelError(/web\.hits/),
  );
});

test('a property name that clashes with a Stats member is refused at definition', () => {
  for (const name of ['close', 'remove', 'add', 'flush', 'path', 'labels']) {
    assert.throws(() => defineModel('Clash', { [name]: field.counter() }), labelError(new RegExp(name)), name);
  }
});

test('add() refuses a label already in the file, including a default field, and leaves the file intact', () => {
  const dir = tempStatsDir();
  const stats = openStats({ name: 'AddDup', path: dir });
  try {
    stats.add('hits', field.counter()).incr(3);
    assert.throws(() => stats.add('hits', field.gauge()), labelError(/hits is already used/));
    assert.throws(() => stats.add('sys.pid', field.uint32()), labelError(/sys\.pid/));
    stats.add('after', field.counter()).incr();
    const r = StatsReader.open(stats.path);
    try {
      const labels = r.read().fields.map((f) => f.label);
      assert.equal(labels.filter((l) => l === 'hits').length, 1);
      assert.equal(labels.filter((l) => l === 'sys.pid').length, 1);
      assert.ok(labels.includes('after'));
    } finally {
      r.close();
    }
  } finally {
    stats.remove();
  }
});

test('labels default to the property name with the prefix; an explicit label and the default fields are not prefixed', async () => {
  const dir = tempStatsDir();
  const w = runScript(
    `
const Web = defineModel('Web', {
  requests: field.counter(),
  'status.2XX': field.counter(),
  latency: field.gauge({ label: 'custom.latency', unit: 'seconds', help: 'mean latency' }),
  ünïcode: field.bool(),
}, { prefix: 'web.' });
const stats = Web.open({ path: env.DIR });
stats.requests.incr();
stats.add('later', field.counter()).incr(2);
ready({ file: stats.path, labels: stats.labels });
`,
    { env: { DIR: dir } },
  );
  try {
    const { file, labels }: { file: string; labels: string[] } = await w.ready;
    const r = StatsReader.open(file);
    try {
      const fields = r.read().fields;
      assert.deepEqual(
        fields.map((f) => f.label),
        labels,
        'the writer and the reader agree on labels and order',
      );
      const mine = fields.filter((f) => !f.label.startsWith('sys.') && !f.label.startsWith('org.'));
      assert.deepEqual(
        mine.map((f) => f.label),
        ['web.requests', 'web.status.2XX', 'custom.latency', 'web.ünïcode', 'web.later'],
      );
      assert.ok(fields.some((f) => f.label === 'sys.pid'));
      assert.ok(fields.some((f) => f.label === 'org.nodejs.version'));
      const latency = fields.find((f) => f.label === 'custom.latency')!;
      assert.equal(latency.unit, 'seconds');
      assert.equal(latency.help, 'mean latency');
      assert.equal(fields.find((f) => f.label === 'web.later')?.value, 2);
    } finally {
      r.close();
    }
  } finally {
    await w.end();
  }
});

test('the default fields carry the process identity, like the original', () => {
  const dir = tempStatsDir();
  const stats = defineModel('Identity', {}).open({ path: dir });
  try {
    const r = StatsReader.open(stats.path);
    try {
      const v = Object.fromEntries(r.read().fields.map((f) => [f.label, f.value]));
      assert.equal(v['sys.pid'], process.pid);
      assert.equal(v['sys.uid'], process.getuid!());
      assert.equal(v['sys.gid'], process.getgid!());
      assert.equal(typeof v['sys.tid'], 'number');
      assert.ok(Math.abs((v['sys.created'] as number) - Date.now() / 1000) < 60);
      assert.equal(v['org.nodejs.version'], process.version);
    } finally {
      r.close();
    }
  } finally {
    stats.remove();
  }
});

test('a model instance is typed per field: TypeScript infers each field and rejects a misspelled one', () => {
  const Web = defineModel('Typed', {
    requests: field.counter(),
    url: field.string({ size: 16 }),
    bytes: field.uint64(),
    up: field.bool(),
    pair: field.compound(['lo', 'hi']),
    version: field.static.string('1.0'),
  });
  const stats = Web.open({ path: tempStatsDir() });
  try {
    stats.requests.incr();
    const count: number = stats.requests.value;
    stats.url.set('/x');
    const p: string = stats.url.value;
    stats.bytes.set(2n ** 60n);
    const b: bigint = stats.bytes.value;
    stats.up.set(true);
    stats.pair.set({ lo: 1, hi: 2 });
    const hi: number = stats.pair.value.hi;
    const version: string = stats.version.value;
    assert.deepEqual([count, p, b, hi, version], [1, '/x', 2n ** 60n, 2, '1.0']);
    assert.throws(() => {
      // @ts-expect-error a misspelled field does not exist on the instance
      stats.requets.incr();
    }, TypeError);
    assert.throws(() => {
      // @ts-expect-error a static field cannot be set
      stats.version.set('2.0');
    }, TypeError);
    // @ts-expect-error a compound field has only the parts it was defined with
    stats.pair.set({ lo: 1, middle: 2 });
    assert.throws(() => {
      // @ts-expect-error a string field takes a string
      stats.url.set(5);
    }, /field url takes a string, not number/);
    const r = StatsReader.open(stats.path);
    try {
      const url = r.read().fields.find((f) => f.label === 'url');
      assert.deepEqual([url?.value, url?.error], ['/x', undefined], 'a refused update leaves the value readable');
    } finally {
      r.close();
    }
    // @ts-expect-error a counter's value is a number
    const wrong: string = stats.requests.value;
    assert.equal(typeof wrong, 'number');
  } finally {
    stats.remove();
  }
});

test('a compound update that throws half-way still leaves the value readable in another process', async () => {
  const dir = tempStatsDir();
  const stats = openStats({ name: 'Throwing', path: dir });
  const reader = runScript(
    `on('read', (file) => { const r = StatsReader.open(file); try { return r.read().fields.find((f) => f.label === 'pair'); } finally { r.close(); } }); ready();`,
  );
  try {
    const pair = stats.add('pair', field.compound(['a', 'b']));
    pair.set({ a: 1, b: 2 });
    // A plain-JavaScript caller may pass a bigint: the store throws mid-write.
    assert.throws(() => pair.set({ a: 3, b: 4n as unknown as number }), TypeError);
    await reader.ready;
    const got = await reader.call('read', stats.path);
    assert.equal(got.error, undefined, 'the seqlock was not left odd');
    assert.equal(got.value.a, 3);
  } finally {
    stats.remove();
    await reader.end();
  }
});

test('a schema entry that is not a field spec (an uncalled factory, a number) is a clear TypeError', () => {
  assert.throws(() => defineModel('NoSpec', { hits: field.counter as never }), /field hits is not a field spec \(a factory: call it/);
  assert.throws(() => defineModel('NoSpec', { n: 5 as never }), /field n is not a field spec/);
  const stats = openStats({ name: 'NoSpec', path: tempStatsDir() });
  try {
    assert.throws(() => stats.add('x', {} as never), /field x is not a field spec/);
  } finally {
    stats.remove();
  }
});
