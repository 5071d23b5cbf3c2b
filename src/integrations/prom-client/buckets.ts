/** prom-client's bucket generators, with its messages. */

/** `count` buckets from `start`, `width` apart. */
export function linearBuckets(start: number, width: number, count: number): number[] {
  if (count < 1) throw new Error('Linear buckets needs a positive count');
  const buckets = new Array<number>(count);
  for (let i = 0; i < count; i++) buckets[i] = start + i * width;
  return buckets;
}

/** `count` buckets from `start`, each `factor` times the one before. */
export function exponentialBuckets(start: number, factor: number, count: number): number[] {
  if (start <= 0) throw new Error('Exponential buckets needs a positive start');
  if (count < 1) throw new Error('Exponential buckets needs a positive count');
  if (factor <= 1) throw new Error('Exponential buckets needs a factor greater than 1');
  const buckets = new Array<number>(count);
  for (let i = 0; i < count; i++) {
    buckets[i] = start;
    start *= factor;
  }
  return buckets;
}
