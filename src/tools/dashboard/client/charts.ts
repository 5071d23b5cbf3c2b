/**
 * Live charts with uPlot: one card per field label, over the writers in view,
 * in collapsible sections. Counters are drawn as rates, gauges as values (one
 * line per writer), histograms and timers as percentile lines of their merged
 * buckets. Cards of a closed section are not drawn at all.
 */
import uPlot from 'uplot';
import { isWireHistogram, type WireField, type WireHistogram, type WireValue } from '../protocol.js';
import { h, setText, toggle } from './dom.js';
import { axisIncrements, axisTicks, formatRate, formatWithUnit, isTimeUnit } from '../format.js';
import { numbers, rates, windowQuantiles, type History, type WriterState } from './state.js';

const PALETTE = ['#2563eb', '#16a34a', '#db2777', '#ea580c', '#7c3aed', '#0891b2', '#ca8a04', '#dc2626', '#4b5563', '#65a30d'];
const QUANTILES = [
  { q: 0.5, name: 'p50', color: '#16a34a' },
  { q: 0.9, name: 'p90', color: '#ea580c' },
  { q: 0.99, name: 'p99', color: '#dc2626' },
];
const PLOT_HEIGHT = 160;
/** Steps of the time axis, in seconds: whole seconds and minutes only. */
const TIME_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200];

/** A short name for a writer in a legend. */
export function writerLabel(w: WriterState['writer']): string {
  return w.tid ? `pid ${w.pid} · thread ${w.tid}` : `pid ${w.pid}`;
}

type Mode = 'rate' | 'value' | 'quantiles';

/** Writers drawn as their own lines; more are drawn as one sum. */
const MAX_LINES = 8;
/** Label sets of a family drawn as their own lines; the rest are summed as `other`. */
const FAMILY_LINES = 10;

/** What a chart draws. */
interface Lines {
  readonly names: readonly string[];
  readonly colors: readonly string[];
  readonly ys: (number | null)[][];
  /** Percentile charts: the p99 line of everything drawn, for the summary. */
  readonly p99?: (number | null)[];
}

/** A label set as a legend names it: `method=GET, status=200`. */
export function labelSetName(labels: Readonly<Record<string, string>> | undefined): string {
  const entries = Object.entries(labels ?? {});
  if (entries.length === 1 && entries[0]![0] === 'otel_metric_overflow') return 'overflow (past the series limit)';
  return entries.length === 0 ? '{}' : entries.map(([k, v]) => `${k}=${v}`).join(', ');
}

/** A section of charts as the page wants it. */
export interface SectionSpec {
  readonly key: string;
  readonly title: string;
  /** Chart keys (a family's name, else a field's label), in order. */
  readonly labels: readonly string[];
  readonly open: boolean;
}

/** What the charts tell the page. */
export interface ChartEvents {
  /** The user pinned or unpinned a chart. */
  pin(label: string): void;
  /** The user opened or closed a section. */
  toggled(section: string, open: boolean): void;
  isPinned(label: string): boolean;
}

interface Card {
  readonly el: HTMLElement;
  readonly plotEl: HTMLElement;
  readonly summary: HTMLElement;
  readonly pin: HTMLButtonElement;
  plot: uPlot | undefined;
  /** What the current plot was built for: rebuilt when it changes. */
  shape: string;
  /** A family's label sets → their colours, kept while the ranking moves. */
  readonly colors: Map<string, string>;
}

interface SectionEl {
  readonly el: HTMLDetailsElement;
  readonly count: HTMLElement;
  readonly grid: HTMLElement;
}

/** The chart sections and cards of the page. */
export class Charts {
  private readonly cards = new Map<string, Card>();
  private readonly sections = new Map<string, SectionEl>();

  constructor(
    private readonly container: HTMLElement,
    private readonly events: ChartEvents,
  ) {
    // uPlot draws at a fixed size: follow the container's width.
    new ResizeObserver(() => this.resize()).observe(container);
  }

  /**
   * Draw `sections` over `writers` (the writers in view) from point `from` on,
   * family children that pass `include` only; other cards and sections go.
   */
  update(
    history: History,
    sections: readonly SectionSpec[],
    writers: readonly WriterState[],
    from: number,
    include: (f: WireField) => boolean,
  ): void {
    const keepSections = new Set(sections.map((s) => s.key));
    for (const [key, s] of this.sections) {
      if (!keepSections.has(key)) {
        s.el.remove();
        this.sections.delete(key);
      }
    }
    const drawn = new Set<string>();
    sections.forEach((spec, i) => {
      let s = this.sections.get(spec.key);
      if (!s) s = this.makeSection(spec);
      if (this.container.children[i] !== s.el) this.container.insertBefore(s.el, this.container.children[i] ?? null);
      if (s.el.open !== spec.open) s.el.open = spec.open;
      setText(s.count, `${spec.labels.length} chart${spec.labels.length === 1 ? '' : 's'}${spec.open ? '' : ', closed'}`);
      if (!spec.open) return;
      let at = 0;
      for (const label of spec.labels) {
        const withField = writers.filter((w) => w.charts.has(label));
        if (withField.length === 0) continue;
        const first = withField[0]!;
        const meta = first.fields[first.charts.get(label)![0]!]!;
        const card = this.cards.get(label) ?? this.makeCard(label, meta);
        // Keep the cards in the order of the section's labels.
        if (s.grid.children[at] !== card.el) s.grid.insertBefore(card.el, s.grid.children[at] ?? null);
        at++;
        drawn.add(label);
        const pinned = this.events.isPinned(label);
        toggle(card.pin, 'on', pinned);
        card.pin.setAttribute('aria-pressed', String(pinned));
        setText(card.pin, pinned ? '★' : '☆');
        this.draw(card, history, meta, withField, from, include);
      }
    });
    for (const [label, card] of this.cards) {
      if (!drawn.has(label)) {
        card.plot?.destroy();
        card.el.remove();
        this.cards.delete(label);
      }
    }
  }

  private makeSection(spec: SectionSpec): SectionEl {
    const count = h('span', { class: 'muted section-count' });
    const grid = h('div', { class: 'charts' });
    const el = h(
      'details',
      { class: 'section', data: { section: spec.key } },
      h('summary', {}, h('span', { text: spec.title }), count),
      grid,
    );
    el.open = spec.open;
    el.addEventListener('toggle', () => this.events.toggled(spec.key, el.open));
    const s = { el, count, grid };
    this.sections.set(spec.key, s);
    return s;
  }

  private makeCard(label: string, meta: WireField): Card {
    const summary = h('span', { class: 'card-summary' });
    const plotEl = h('div', { class: 'card-plot' });
    const pin = h('button', { class: 'pin', title: 'Pin this chart to the top (kept in this browser)', text: '☆' });
    pin.type = 'button';
    pin.setAttribute('aria-label', `pin ${label}`);
    pin.addEventListener('click', () => this.events.pin(label));
    const el = h(
      'article',
      { class: 'card', data: { label } },
      h('header', {}, h('h3', { text: label, title: meta.help || label }), summary, pin),
      meta.help ? h('p', { class: 'card-help', text: meta.help }) : null,
      plotEl,
    );
    const card: Card = { el, plotEl, summary, pin, plot: undefined, shape: '', colors: new Map() };
    this.cards.set(label, card);
    return card;
  }

  /** The lines of an unlabelled field: one per writer (or their sum), or its percentiles. */
  private fieldLines(history: History, meta: WireField, mode: Mode, writers: readonly WriterState[], from: number): Lines {
    const times = history.times;
    const seriesOf = (w: WriterState) => w.history.get(meta.label) ?? [];
    if (mode === 'quantiles') {
      const ys = windowQuantiles(
        meta.le ?? [],
        from,
        times.length,
        writers.map(seriesOf),
        QUANTILES.map((q) => q.q),
      );
      return { names: QUANTILES.map((q) => q.name), colors: QUANTILES.map((q) => q.color), ys, p99: ys[2]! };
    }
    const perWriter = writers.map((w) => (mode === 'rate' ? rates(meta, times, seriesOf(w), from) : numbers(meta, seriesOf(w), from)));
    if (writers.length <= MAX_LINES) {
      return {
        names: writers.map((w) => writerLabel(w.writer)),
        colors: writers.map((_, i) => PALETTE[i % PALETTE.length]!),
        ys: perWriter,
      };
    }
    // Too many writers for one line each: one line of their sum. Rates add up; gauges
    // sum over live writers, the API's default gauge rule.
    const counted = perWriter.filter((_, k) => mode === 'rate' || writers[k]!.writer.alive);
    return { names: [`Σ ${counted.length} writers`], colors: [PALETTE[0]!], ys: [perWriter[0]!.map((_, i) => sumAt(counted, i))] };
  }

  /**
   * The lines of a family: one per label set (summed over the writers), the
   * FAMILY_LINES busiest over the range (highest mean rate or value, most
   * observations), the rest summed as one `other` line. Histogram families draw
   * each set's p99.
   */
  private familyLines(
    history: History,
    meta: WireField,
    mode: Mode,
    writers: readonly WriterState[],
    from: number,
    include: (f: WireField) => boolean,
    colorOf: Map<string, string>,
  ): Lines {
    const times = history.times;
    const sets = new Map<string, (WireValue | undefined)[][]>();
    for (const w of writers) {
      for (const i of w.charts.get(meta.family!) ?? []) {
        const f = w.fields[i]!;
        if (!include(f)) continue;
        const name = labelSetName(f.labels);
        const list = sets.get(name);
        const series = w.history.get(f.label) ?? [];
        if (list) list.push(series);
        else sets.set(name, [series]);
      }
    }
    const p99 = (raw: readonly (readonly (WireValue | undefined)[])[]) =>
      windowQuantiles(meta.le ?? [], from, times.length, raw, [0.99])[0]!;
    const lines = [...sets].map(([name, raw]) => {
      if (mode === 'quantiles') {
        let weight = 0;
        for (const series of raw) for (let i = from; i < series.length; i++) weight += (series[i] as WireHistogram | undefined)?.count ?? 0;
        return { name, raw, ys: p99(raw), weight };
      }
      const perWriter = raw.map((v) => (mode === 'rate' ? rates(meta, times, v, from) : numbers(meta, v, from)));
      const ys = (perWriter[0] ?? []).map((_, i) => sumAt(perWriter, i));
      let sum = 0;
      let n = 0;
      for (const v of ys) {
        if (v === null) continue;
        sum += v;
        n++;
      }
      return { name, raw, ys, weight: n > 0 ? sum / n : -Infinity };
    });
    lines.sort((a, b) => b.weight - a.weight || a.name.localeCompare(b.name));
    const top = lines.slice(0, FAMILY_LINES);
    const rest = lines.slice(FAMILY_LINES);
    const names = top.map((l) => l.name);
    const ys = top.map((l) => l.ys);
    if (rest.length > 0) {
      names.push(`other (${rest.length} label sets)`);
      ys.push(
        mode === 'quantiles'
          ? p99(rest.flatMap((l) => l.raw))
          : (rest[0]!.ys.map((_, i) =>
              sumAt(
                rest.map((l) => l.ys),
                i,
              ),
            ) as (number | null)[]),
      );
    }
    // A label set keeps its colour while the ranking moves; a set new to the chart takes a free one.
    const used = new Set<string>();
    const kept = top.map((l) => {
      const c = colorOf.get(l.name);
      if (c === undefined || used.has(c)) return undefined;
      used.add(c);
      return c;
    });
    const colors = kept.map((c, i) => {
      if (c !== undefined) return c;
      const free = PALETTE.find((p) => !used.has(p)) ?? PALETTE[i % PALETTE.length]!;
      used.add(free);
      colorOf.set(top[i]!.name, free);
      return free;
    });
    if (rest.length > 0) colors.push('#9ca3af');
    return { names, colors, ys, ...(mode === 'quantiles' ? { p99: p99(lines.flatMap((l) => l.raw)) } : {}) };
  }

  private draw(
    card: Card,
    history: History,
    meta: WireField,
    writers: readonly WriterState[],
    from: number,
    include: (f: WireField) => boolean,
  ): void {
    const first = writers[0]!;
    const sample = first.values[first.index.get(meta.label)!];
    const mode: Mode = isWireHistogram(sample) ? 'quantiles' : meta.kind === 'counter' ? 'rate' : 'value';
    const times = history.times;
    const { names, colors, ys, p99 } =
      meta.family !== undefined
        ? this.familyLines(history, meta, mode, writers, from, include, card.colors)
        : this.fieldLines(history, meta, mode, writers, from);
    // A rate of seconds (CPU time) per second is a plain number: cores busy.
    const axisUnit = mode === 'rate' && isTimeUnit(meta.unit) ? '' : meta.unit;
    const fmt = (v: number | null) =>
      v === null || v === undefined ? '–' : mode === 'rate' ? formatRate(v, meta.unit) : formatWithUnit(v, meta.unit);
    setText(card.summary, summarize(mode, mode === 'quantiles' ? [p99 ?? []] : ys, fmt, meta.family !== undefined));
    card.el.dataset.points = String(times.length - from);
    const shape = `${mode}|${names.join(',')}`;
    const data = [times.slice(from), ...ys] as uPlot.AlignedData;
    if (card.plot && card.shape === shape) {
      card.plot.setData(data);
      showLatest(card.plot);
      return;
    }
    card.plot?.destroy();
    card.shape = shape;
    const tickStyle = { stroke: '#6b7280', grid: { stroke: '#eef0f3' }, ticks: { stroke: '#e5e7eb' } };
    const incrs = axisIncrements(axisUnit);
    card.plot = new uPlot(
      {
        width: Math.max(200, card.plotEl.clientWidth || 360),
        height: PLOT_HEIGHT,
        cursor: { drag: { x: false, y: false } },
        legend: { show: true, live: true },
        scales: { x: { time: true }, y: { range: (_u, min, max) => yRange(min, max) } },
        axes: [
          // Clock times only (the date would be cut at the left edge): minutes, or seconds when the ticks need them.
          { ...tickStyle, incrs: TIME_STEPS, values: (_u, splits) => clockTicks(splits) },
          {
            ...tickStyle,
            ...(incrs ? { incrs } : {}),
            size: axisWidth,
            values: (_u, splits) => axisTicks(splits, axisUnit),
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
        // Away from the plot, the legend shows the latest values rather than dashes.
        hooks: { setCursor: [(u) => u.cursor.idx == null && showLatest(u)] },
      },
      data,
      card.plotEl,
    );
    showLatest(card.plot);
  }

  private resize(): void {
    for (const card of this.cards.values()) {
      const width = card.plotEl.clientWidth;
      if (card.plot && width > 0 && Math.abs(card.plot.width - width) > 2) card.plot.setSize({ width, height: PLOT_HEIGHT });
    }
  }
}

function clockTicks(splits: readonly number[]): string[] {
  const seconds = splits.some((s) => s % 60 !== 0);
  const two = (n: number) => String(n).padStart(2, '0');
  return splits.map((s) => {
    const d = new Date(s * 1000);
    return `${two(d.getHours())}:${two(d.getMinutes())}${seconds ? `:${two(d.getSeconds())}` : ''}`;
  });
}

/** The y axis as wide as its longest tick label, so no digit is clipped. */
function axisWidth(u: uPlot, values: string[] | null, axisIdx: number, cycleNum: number): number {
  const axis = u.axes[axisIdx]!;
  // uPlot sizes axes in a few passes: keep the first pass's answer to converge.
  if (cycleNum > 1) return (axis as unknown as { _size: number })._size;
  let width = (axis.ticks?.size ?? 10) + (axis.gap ?? 5);
  const longest = (values ?? []).reduce((a, v) => (v.length > a.length ? v : a), '');
  if (longest) {
    u.ctx.font = (axis as unknown as { font: [string] }).font[0];
    width += u.ctx.measureText(longest).width / devicePixelRatio;
  }
  return Math.ceil(width) + 2;
}

/** The legend at the last point where any line has a value, unless the cursor is on the plot. */
function showLatest(u: uPlot): void {
  if (u.cursor.idx != null) return;
  const n = u.data[0].length;
  for (let i = n - 1; i >= 0; i--) {
    if (u.data.some((ys, k) => k > 0 && ys[i] != null)) {
      u.setLegend({ idx: i }, false);
      return;
    }
  }
}

/** The line shown beside a chart's title: the latest total rate, value or p99 (`ys` holds the p99 line alone for percentiles). */
function summarize(mode: Mode, ys: readonly (number | null)[][], fmt: (v: number | null) => string, family: boolean): string {
  const last = (arr: readonly (number | null)[]) => {
    for (let i = arr.length - 1; i >= 0; i--) if (arr[i] !== null && arr[i] !== undefined) return arr[i]!;
    return null;
  };
  if (mode === 'quantiles') {
    const p99 = last(ys[0] ?? []);
    return p99 === null ? 'no recent observations' : `p99 ${fmt(p99)}`;
  }
  const latest = ys.map(last).filter((v): v is number => v !== null);
  if (latest.length === 0) return '–';
  const total = latest.reduce((a, b) => a + b, 0);
  return latest.length > 1 && (mode === 'value' || family) ? `Σ ${fmt(total)}` : fmt(total);
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
  // All zero: 0 to 1, not -1 to 1.
  return hi === lo ? (lo === 0 ? [0, 1] : [lo - 1, hi + 1]) : [lo, hi];
}
