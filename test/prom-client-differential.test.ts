/**
 * The same programs, written for prom-client, run against prom-client 15 and against
 * mmstats/prom-client: the exposition text (both content types), the JSON and the
 * errors must be identical, byte for byte (Summary quantiles aside: they are checked
 * for accuracy in prom-client-summary.test.ts).
 */
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { describe, test } from 'node:test';
import * as mine from '../src/integrations/prom-client/index.js';
import { badInput, collectCallbacks, everyKind, manySeries, openMetrics } from './helpers/prom-programs.js';
import { tempStatsDir } from './helpers/proc.js';

// The drop-in publishes its metrics in a file: this test's own directory, not the user's.
process.env.MMSTATS_PATH = tempStatsDir();

const theirs = createRequire(import.meta.url)('prom-client');

function sameLines(actual: string[], expected: string[]): void {
  assert.equal(actual.length, expected.length);
  for (let i = 0; i < expected.length; i++) assert.equal(actual[i], expected[i], `output ${i} differs`);
}

describe('mmstats/prom-client against prom-client 15: the same program, the same output', () => {
  for (const [name, program] of Object.entries({ everyKind, openMetrics, collectCallbacks, badInput, manySeries })) {
    test(name, async () => {
      const expected = await program(theirs);
      const actual = await program(mine);
      sameLines(actual, expected);
    });
  }

  test('the default registry, content type constants and the default export', async () => {
    assert.equal(mine.prometheusContentType, theirs.prometheusContentType);
    assert.equal(mine.openMetricsContentType, theirs.openMetricsContentType);
    assert.equal(mine.contentType, theirs.contentType);
    assert.equal(mine.Registry.PROMETHEUS_CONTENT_TYPE, theirs.Registry.PROMETHEUS_CONTENT_TYPE);
    assert.equal(mine.Registry.OPENMETRICS_CONTENT_TYPE, theirs.Registry.OPENMETRICS_CONTENT_TYPE);
    for (const key of Object.keys(theirs)) assert.ok(key in mine.default, `default export lacks ${key}`);
    const c = new mine.Counter({ name: 'default_reg_total', help: 'in the default registry' });
    c.inc(2);
    assert.equal(mine.register.getSingleMetric('default_reg_total'), c);
    assert.match(await mine.register.metrics(), /^default_reg_total 2$/m);
    mine.default.contentType = mine.openMetricsContentType;
    assert.equal(mine.register.contentType, mine.openMetricsContentType);
    mine.default.contentType = mine.prometheusContentType;
    mine.register.removeSingleMetric('default_reg_total');
  });
});
