/** An OpenMetrics exemplar, kept in the process as prom-client keeps it. */
export class Exemplar {
  timestamp?: number;
  constructor(
    public labelSet: Record<string, any> = {},
    public value: number | null = null,
  ) {}

  /** prom-client's check: label names and values together at most 128 characters. */
  validateExemplarLabelSet(labelSet: Record<string, any>): void {
    let res = '';
    for (const [labelName, labelValue] of Object.entries(labelSet)) res += `${labelName}${labelValue}`;
    if (res.length > 128) throw new RangeError('Label set size must be smaller than 128 UTF-8 chars');
  }
}
