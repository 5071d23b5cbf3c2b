/** prom-client's rules for combining one metric's values from several registries (cluster workers). */

function labelKey(labels: Record<string, unknown>): string {
  const keys = Object.keys(labels).sort();
  let hash = '';
  for (const k of keys) if (labels[k] !== undefined) hash += `${k}:${labels[k]},`;
  return hash;
}

/** An aggregator from a function of the values of one sample across registries. */
export function AggregatorFactory(aggregatorFn: (values: { value: number }[]) => number) {
  return (metrics: any[]): any => {
    if (metrics.length === 0) return;
    const first = metrics[0];
    const result = { help: first.help, name: first.name, type: first.type, values: [] as any[], aggregator: first.aggregator };
    const byLabels = new Map<string, any[]>();
    for (const metric of metrics) {
      for (const value of metric.values) {
        const key = `${value.metricName}_${labelKey(value.labels)}`;
        const list = byLabels.get(key);
        if (list) list.push(value);
        else byLabels.set(key, [value]);
      }
    }
    for (const values of byLabels.values()) {
      const valObj: any = { value: aggregatorFn(values), labels: values[0].labels };
      if (values[0].metricName) valObj.metricName = values[0].metricName;
      result.values.push(valObj);
    }
    return result;
  };
}

/** The aggregators by name: sum, first, omit, average, min, max. */
export const aggregators: Record<string, (metrics: any[]) => any> = {
  sum: AggregatorFactory((v) => v.reduce((p, c) => p + c.value, 0)),
  first: AggregatorFactory((v) => v[0]!.value),
  omit: () => undefined,
  average: AggregatorFactory((v) => v.reduce((p, c) => p + c.value, 0) / v.length),
  min: AggregatorFactory((v) => v.reduce((p, c) => Math.min(p, c.value), Infinity)),
  max: AggregatorFactory((v) => v.reduce((p, c) => Math.max(p, c.value), -Infinity)),
};
