/**
 * Live charts with uPlot: one card per field label, over the writers in view.
 * Counters are drawn as rates, gauges as values (one line per writer),
 * histograms and timers as percentile lines of their merged buckets.
 */
import uPlot from 'uplot';
import { isWireHistogram, type WireField } from '../protocol.js';
import { h, setText } from './dom.js';
import { formatNumber, formatWithUnit } from './format.js';
import { numbers, rates, windowQuantiles, type History, type WriterState } from './state.js';

const PALETTE = ['#2563eb', '#16a34a', '#db2777', '#ea580c', '#7c3aed', '#0891b2', '#ca8a04', '#dc2626', '#4b5563', '#65a30d'];
const QUANTILES = [
  { q: 0.5, name: 'p50', color: '#16a34a' },
  { q: 0.9, name: 'p90', color: '#ea580c' },
  { q: 0.99, name: 'p99', color: '#dc2626' },
];

/** A short name for a writer in a legend. */
export function writerLabel(w: WriterState['writer']): string {
  return w.tid ? `pid ${w.pid} · thread ${w.tid}` : `pid ${w.pid}`;
}

type Mode = 'rate' | 'value' | 'quantiles';

/** Writers drawn as their own lines; more are drawn as one sum. */
const MAX_LINES = 8;
const SCALED_UNITS = new Set(['seconds', 's', 'bytes']);

interface Card {
  readonly el: HTMLElement;
  readonly plotEl: HTMLElement;
  readonly summary: HTMLElement;
  plot: uPlot | undefined;
  /** What the current plot was built for: rebuilt when it changes. */
  shape: string;
}

/** The chart cards of the page, keyed by field label. */
export class Charts {
  private readonly cards = new Map<string, Card>();

  constructor(private readonly container: HTMLElement) {
    // uPlot draws at a fixed size: follow the container's width.
    new ResizeObserver(() => this.resize()).observe(container);
  }

  /** Draw `labels` over `writers` (the writers in view); other cards go. */
  update(history: History, labels: readonly string[], writers: readonly WriterState[]): void {
    const keep = new Set(labels);
    for (const [label, card] of this.cards) {
      if (!keep.has(label)) {
        card.plot?.destroy();
        card.el.remove();
        this.cards.delete(label);
      }
    }
    labels.forEach((label, i) => {
      const withField = writers.filter((w) => w.index.has(label));
      if (withField.length === 0) return;
      const first = withField[0]!;
      const meta = first.fields[first.index.get(label)!]!;
      let card = this.cards.get(label);
      if (!card) card = this.makeCard(label, meta);
      // Keep the cards in the order of `labels`.
      if (this.container.children[i] !== card.el) this.container.insertBefore(card.el, this.container.children[i] ?? null);
      this.draw(card, history, meta, withField);
    });
  }

  private makeCard(label: string, meta: WireField): Card {
    const summary = h('span', { class: 'card-summary' });
    const plotEl = h('div', { class: 'card-plot' });
    const el = h(
      'article',
      { class: 'card', data: { label } },
      h('header', {}, h('h3', { text: label, title: meta.help || label }), summary),
      meta.help ? h('p', { class: 'card-help', text: meta.help }) : null,
      plotEl,
    );
    const card: Card = { el, plotEl, summary, plot: undefined, shape: '' };
    this.cards.set(label, card);
    return card;
  }

  private draw(card: Card, history: History, meta: WireField, writers: readonly WriterState[]): void {
    const sample = writers[0]!.values[writers[0]!.index.get(meta.label)!];
    const mode: Mode = isWireHistogram(sample) ? 'quantiles' : meta.kind === 'counter' ? 'rate' : 'value';
    const times = history.times;
    const seriesOf = (w: WriterState) => w.history.get(meta.label) ?? [];
    let names: string[];
    let colors: string[];
    let ys: (number | null)[][];
    if (mode === 'quantiles') {
      names = QUANTILES.map((q) => q.name);
      colors = QUANTILES.map((q) => q.color);
      ys = windowQuantiles(
        meta.le ?? [],
        times.length,
        writers.map(seriesOf),
        QUANTILES.map((q) => q.q),
      );
    } else {
      const perWriter = writers.map((w) => (mode === 'rate' ? rates(meta, times, seriesOf(w)) : numbers(meta, seriesOf(w))));
      if (writers.length <= MAX_LINES) {
        names = writers.map((w) => writerLabel(w.writer));
        colors = writers.map((_, i) => PALETTE[i % PALETTE.length]!);
        ys = perWriter;
      } else {
        // Too many writers for one line each: one line of their sum. Rates add up; gauges
        // sum over live writers, the API's default gauge rule.
        const counted = perWriter.filter((_, k) => mode === 'rate' || writers[k]!.writer.alive);
        names = [`Σ ${counted.length} writers`];
        colors = [PALETTE[0]!];
        ys = [times.map((_, i) => sumAt(counted, i))];
      }
    }
    const rateUnit = meta.unit ? `${meta.unit}/s` : 'per s';
    setText(card.summary, summarize(mode, ys, rateUnit, meta.unit));
    const shape = `${mode}|${names.join(',')}`;
    const data = [times.slice(), ...ys] as uPlot.AlignedData;
    if (card.plot && card.shape === shape) {
      card.plot.setData(data);
      return;
    }
    card.plot?.destroy();
    card.shape = shape;
    const valueUnit = mode === 'rate' ? '' : meta.unit;
    const fmt = (v: number | null) => (v === null ? '–' : formatWithUnit(v, valueUnit));
    card.plot = new uPlot(
      {
        width: Math.max(200, card.plotEl.clientWidth || 360),
        height: 160,
        cursor: { drag: { x: false, y: false } },
        legend: { show: true, live: true },
        scales: { x: { time: true }, y: { range: (_u, min, max) => yRange(min, max) } },
        axes: [
          { stroke: '#6b7280', grid: { stroke: '#eef0f3' }, ticks: { stroke: '#e5e7eb' } },
          {
            stroke: '#6b7280',
            grid: { stroke: '#eef0f3' },
            ticks: { stroke: '#e5e7eb' },
            size: 64,
            // Axis ticks stay short: a unit only where it rescales (seconds to ms, bytes to KiB).
            values: (_u, splits) => splits.map((v) => (SCALED_UNITS.has(valueUnit) ? formatWithUnit(v, valueUnit) : formatNumber(v))),
          },
        ],
        series: [
          { label: 'time', value: (_u: uPlot, v: number | null) => (v === null ? '' : new Date(v * 1000).toLocaleTimeString()) },
          ...names.map((name, i) => ({
            label: name,
            stroke: colors[i],
            width: 1.5,
            spanGaps: false,
            points: { show: false },
            value: (_u: uPlot, v: number | null) => fmt(v),
          })),
        ],
      },
      data,
      card.plotEl,
    );
  }

  private resize(): void {
    for (const card of this.cards.values()) {
      const width = card.plotEl.clientWidth;
      if (card.plot && width > 0 && Math.abs(card.plot.width - width) > 2) card.plot.setSize({ width, height: 160 });
    }
  }
}

/** The line shown beside a chart's title: the latest total rate, value or p99. */
function summarize(mode: Mode, ys: readonly (number | null)[][], rateUnit: string, unit: string): string {
  const last = (arr: readonly (number | null)[]) => {
    for (let i = arr.length - 1; i >= 0; i--) if (arr[i] !== null && arr[i] !== undefined) return arr[i]!;
    return null;
  };
  if (mode === 'quantiles') {
    const p99 = last(ys[2] ?? []);
    return p99 === null ? 'no recent observations' : `p99 ${formatWithUnit(p99, unit)}`;
  }
  const latest = ys.map(last).filter((v): v is number => v !== null);
  if (latest.length === 0) return '–';
  const total = latest.reduce((a, b) => a + b, 0);
  if (mode === 'rate') return `${formatWithUnit(total, '')} ${rateUnit}`;
  return latest.length > 1 ? `Σ ${formatWithUnit(total, unit)}` : formatWithUnit(total, unit);
}

/** The sum of the series that have a value at `i` (null when none has). */
function sumAt(series: readonly (number | null)[][], i: number): number | null {
  let sum: number | null = null;
  for (const ys of series) {
    const v = ys[i];
    if (v !== null && v !== undefined) sum = (sum ?? 0) + v;
  }
  return sum;
}

/** A y range with some headroom that always includes zero for non-negative data. */
function yRange(min: number | null, max: number | null): [number, number] {
  if (min === null || max === null || !Number.isFinite(min) || !Number.isFinite(max)) return [0, 1];
  const lo = min >= 0 ? 0 : min * 1.1;
  const hi = max <= 0 ? 0 : max * 1.1;
  return hi === lo ? [lo - 1, hi + 1] : [lo, hi];
}
