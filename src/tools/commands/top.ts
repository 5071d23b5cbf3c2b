/**
 * `mmstats top`: a full-screen live view, like top or htop, of the processes
 * writing stats, their fields, and sparklines of recent values.
 *
 * Plain ANSI escapes and node:readline keypress events: the alternate screen and
 * a hidden cursor while it runs, both restored on `q`, Ctrl-C, SIGINT, SIGTERM,
 * SIGHUP and on any exit. Counters are shown as rates per second, gauges as
 * values, timers and histograms as percentiles of the values recorded since the
 * previous refresh. Text read from files is stripped of control characters, so a
 * file can never drive the terminal.
 */
import path from 'node:path';
import readline from 'node:readline';
import fs from 'node:fs';
import { maxOf, minOf, writerKey } from '../../reader/aggregate.js';
import { type FieldValue, type HistogramValue, type Snapshot } from '../../reader/index.js';
import { collect, whereLooked } from '../snapshots.js';
import { Exit, UsageError, numberOption, PATH_OPTION, parse, readPatterns } from '../args.js';
import {
  Painter,
  formatNumber,
  formatValue,
  guardPipes,
  isHistogram,
  padEnd,
  padStart,
  sanitize,
  sparkline,
  truncate,
  useColor,
  write,
  width,
  type Style,
} from '../term.js';
import { percentileColumns, type Quantile } from './poll.js';

/** One line for `mmstats --help`. */
export const summary = 'full-screen live view of the writers and their fields';

const HELP = `Usage: mmstats top [options] [PATH|GLOB...]

A live, full-screen view of the processes writing stats: each writer (pid,
thread, alive or gone, command) with its fields, their current values (counters
as rates per second, timers and histograms as percentiles of the last interval)
and sparklines of recent values.

Keys:
  q, Ctrl-C       quit
  /               filter: type a part of a label, a command or a pid; Enter keeps
                  it, Esc clears it
  s               sort fields: label, value (largest first), activity (most change)
  a               show or hide write-once fields (sys.pid, sys.cmd...)
  Up, Down, PgUp, PgDn, Home, End   scroll

Options:
  -d, --delay SECONDS    refresh interval (default 1; fractions allowed)
      --percentiles LIST percentiles for timers and histograms (default 50,99)
  -b, --batch            no full screen: print plain frames (for logs and pipes)
  -c, --count N          with --batch: stop after N frames (default 1)
      --path DIR         a stats directory, file or glob to read (repeatable);
                         the same as a PATH argument
  -h, --help             show this help
`;

const HISTORY = 120;
const SORTS = ['label', 'value', 'activity'] as const;
type Sort = (typeof SORTS)[number];

/** A piece of a screen line: text and its style. */
type Segment = readonly [Style | undefined, string];
type Line = readonly Segment[];

interface FieldRow {
  readonly label: string;
  readonly kind: string;
  readonly unit: string;
  readonly text: string;
  readonly num: number | null;
  readonly isStatic: boolean;
  readonly history: readonly (number | null)[];
}

interface WriterRow {
  readonly key: string;
  readonly snap: Snapshot;
  readonly command: string;
  readonly fields: FieldRow[];
}

/** The data behind the screen: the latest snapshots and each field's recent values. */
class Board {
  private prev = new Map<string, { value: number | Counts; at: number }>();
  private history = new Map<string, (number | null)[]>();
  writers: WriterRow[] = [];
  errors: { path: string; message: string }[] = [];
  /** Where it looked, when it found no file at all; else empty. */
  nothingFound = '';
  updatedAt = new Date();

  constructor(
    private readonly patterns: readonly string[],
    private readonly quantiles: readonly Quantile[],
  ) {}

  /** Read every file again and derive the rows. */
  refresh(): void {
    const now = performance.now();
    const seen = new Set<string>();
    // Each file becomes rows (text and numbers) before the next is read: its snapshot is not kept.
    const { items, errors, found } = collect(this.patterns, (snap): WriterRow => {
      const key = writerKey(snap);
      const fields = snap.fields.map((f) => {
        const id = `${key}\0${f.label}`;
        seen.add(id);
        return this.fieldRow(id, f, now);
      });
      const cmd = snap.fields.find((f) => f.label === 'sys.cmd')?.value;
      const writer = { ...snap, fields: [] };
      return { key, snap: writer, command: typeof cmd === 'string' && cmd !== '' ? cmd : path.basename(snap.path), fields };
    });
    this.writers = items;
    this.nothingFound = found === 0 ? `no stats files in ${whereLooked(this.patterns)}` : '';
    this.errors = errors.map((e) => ({ path: e.path, message: `${e.error.code}: ${e.error.message.replace(`${e.path}: `, '')}` }));
    // Writers that left take their history with them.
    for (const id of this.history.keys()) if (!seen.has(id)) this.history.delete(id);
    for (const id of this.prev.keys()) if (!seen.has(id)) this.prev.delete(id);
    this.updatedAt = new Date();
  }

  private fieldRow(id: string, f: FieldValue, now: number): FieldRow {
    const v = f.value;
    let num: number | null = null;
    let text: string;
    const last = this.prev.get(id);
    if (isHistogram(v)) {
      const recent = last && typeof last.value === 'object' && v.count >= last.value.count ? delta(v, last.value) : undefined;
      const seconds = last ? (now - last.at) / 1000 : 0;
      const h = recent ?? v;
      const ps = this.quantiles.map((q) => `${q.name}=${formatMaybe(q.of(h))}`);
      const rate = recent && seconds > 0 ? `${formatNumber(round(recent.count / seconds))}/s ` : '';
      text = `${rate}${ps.join(' ')}`;
      num = recent && recent.count > 0 ? (this.quantiles[this.quantiles.length - 1]?.of(recent) ?? null) : null;
      this.prev.set(id, { value: counts(v), at: now });
    } else if (f.kind === 'counter' && (typeof v === 'number' || typeof v === 'bigint')) {
      const n = Number(v);
      if (last && typeof last.value === 'number' && n >= last.value && now > last.at) {
        num = round((n - last.value) / ((now - last.at) / 1000));
        text = `${formatNumber(num)}/s`;
      } else text = '…/s';
      text += `  (${formatNumber(n)})`;
      this.prev.set(id, { value: n, at: now });
    } else if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean') {
      num = typeof v === 'boolean' ? (v ? 1 : 0) : Number(v);
      text = typeof v === 'bigint' ? v.toString() : formatValue(v);
    } else {
      text = formatValue(v);
      if (v !== null && typeof v === 'object' && 'mean' in v) num = (v as Record<string, number>).mean ?? null;
    }
    if (f.error) text += ` (${f.error})`;
    let hist = this.history.get(id);
    if (!hist) this.history.set(id, (hist = []));
    if (!f.static) {
      hist.push(num);
      if (hist.length > HISTORY) hist.shift();
    }
    return { label: f.label, kind: f.kind, unit: f.unit, text: sanitize(text), num, isStatic: f.static, history: hist };
  }
}

function round(n: number): number {
  // Rates and latencies alike: four significant digits are plenty on a live screen.
  return Math.abs(n) >= 1000 ? Math.round(n) : Number(n.toPrecision(4));
}

function formatMaybe(n: number | null): string {
  return n === null ? '-' : formatNumber(round(n));
}

/** What is kept of a histogram between refreshes: its bucket counts, compactly (thousands per field). */
interface Counts {
  readonly count: number;
  readonly sum: number;
  readonly buckets: Float64Array;
}

function counts(h: HistogramValue): Counts {
  return { count: h.count, sum: h.sum, buckets: Float64Array.from(h.buckets, (b) => b.count) };
}

function delta(cur: HistogramValue, prev: Counts): HistogramValue | undefined {
  if (cur.buckets.length !== prev.buckets.length) return undefined;
  const buckets = cur.buckets.map((b, i) => ({ le: b.le, count: b.count - prev.buckets[i]! }));
  if (buckets.some((b) => b.count < 0)) return undefined;
  return { ...cur, count: cur.count - prev.count, sum: cur.sum - prev.sum, buckets };
}

/** What the screen shows besides the data: filter, sort, scroll. */
interface ViewState {
  filter: string;
  editing: boolean;
  sort: Sort;
  showStatic: boolean;
  scroll: number;
}

function activity(h: readonly (number | null)[]): number {
  const nums = h.filter((x): x is number => x !== null);
  if (nums.length < 2) return 0;
  return maxOf(nums) - minOf(nums);
}

function sortFields(fields: FieldRow[], sort: Sort): FieldRow[] {
  const byLabel = (a: FieldRow, b: FieldRow) => (a.label < b.label ? -1 : a.label > b.label ? 1 : 0);
  if (sort === 'label') return [...fields].sort(byLabel);
  if (sort === 'value') return [...fields].sort((a, b) => (b.num ?? -Infinity) - (a.num ?? -Infinity) || byLabel(a, b));
  return [...fields].sort((a, b) => activity(b.history) - activity(a.history) || byLabel(a, b));
}

/** The body lines (writers and their fields) for the current view. */
function bodyLines(board: Board, view: ViewState, cols: number): Line[] {
  const lines: Line[] = [];
  const needle = view.filter.toLowerCase();
  const writers = [...board.writers].sort(
    (a, b) => a.snap.writer.pid - b.snap.writer.pid || a.snap.writer.threadId - b.snap.writer.threadId,
  );
  for (const w of writers) {
    const id = w.snap.writer;
    const whoMatches = needle !== '' && (w.command.toLowerCase().includes(needle) || String(id.pid) === needle);
    let fields = w.fields.filter((f) => view.showStatic || !f.isStatic);
    if (needle !== '' && !whoMatches) fields = fields.filter((f) => f.label.toLowerCase().includes(needle));
    if (needle !== '' && !whoMatches && fields.length === 0) continue;
    const state: Segment = id.alive ? ['green', 'alive'] : ['red', id.state === 'closed' ? 'closed' : 'gone '];
    lines.push([
      ['bold', `${padStart(String(id.pid), 7)} ${padStart(String(id.threadId), 3)}  `],
      state,
      [undefined, '  '],
      ['bold', sanitize(w.command)],
      ['dim', `  ${sanitize(path.basename(w.snap.path))}`],
    ]);
    const { labelW, valueW, sparkW } = fieldColumns(fields, cols);
    for (const f of sortFields(fields, view.sort)) {
      const value = truncate(f.text + (f.unit ? ' ' + sanitize(f.unit) : ''), valueW);
      const spark = f.isStatic || sparkW === 0 ? '' : sparkline(f.history.slice(-sparkW));
      lines.push([
        [undefined, '    '],
        ['cyan', padEnd(truncate(sanitize(f.label), labelW), labelW)],
        [undefined, '  '],
        [undefined, padStart(value, valueW)],
        [undefined, '  '],
        ['magenta', spark],
      ]);
    }
  }
  if (board.nothingFound) lines.push([['yellow', sanitize(board.nothingFound)]]);
  if (board.errors.length > 0) {
    lines.push([]);
    for (const e of board.errors) lines.push([['red', `unreadable ${sanitize(e.path)}: ${sanitize(e.message)}`]]);
  }
  return lines;
}

/**
 * Column widths for a writer's fields in `cols` columns. Values come first: they
 * get their full width, labels give way down to 10 columns, and the sparkline takes
 * what is left (none under 8). Only when even that is too narrow is a value cut, and
 * then visibly (…): a right-aligned number is never silently clipped by the edge.
 */
function fieldColumns(fields: readonly FieldRow[], cols: number): { labelW: number; valueW: number; sparkW: number } {
  const room = Math.max(0, cols - 4 - 2); // indent, and the gap after the label
  const labelNeed = Math.min(40, Math.max(10, maxOf(fields.map((f) => width(sanitize(f.label))))));
  const valueNeed = Math.max(8, maxOf(fields.map((f) => width(f.text + (f.unit ? ' ' + sanitize(f.unit) : '')))));
  const labelW = Math.max(Math.min(labelNeed, 10), Math.min(labelNeed, room - valueNeed));
  const valueW = Math.max(0, Math.min(valueNeed, room - labelW));
  const left = cols - 4 - labelW - 2 - valueW - 2;
  return { labelW, valueW, sparkW: left >= 8 ? Math.min(40, left) : 0 };
}

function headerLines(board: Board, view: ViewState, delayMs: number): Line[] {
  const alive = board.writers.filter((w) => w.snap.writer.alive).length;
  const time = board.updatedAt.toTimeString().slice(0, 8);
  const first: Segment[] = [
    ['bold', 'mmstats top'],
    [undefined, `  ${time}  every ${formatNumber(delayMs / 1000)}s  writers: ${board.writers.length} (${alive} alive)`],
  ];
  if (board.errors.length > 0) first.push(['red', `  unreadable: ${board.errors.length}`]);
  first.push([undefined, `  sort: ${view.sort}`]);
  const second: Line = view.editing
    ? [
        ['yellow', 'filter: '],
        [undefined, sanitize(view.filter)],
        ['inverse', ' '],
        ['dim', '   Enter keep  Esc clear'],
      ]
    : [
        ['dim', view.filter ? '' : 'keys: '],
        ...(view.filter ? [['yellow', `filter: ${sanitize(view.filter)}  `] as Segment] : []),
        ['dim', 'q quit  / filter  s sort  a all fields  ↑↓ PgUp PgDn scroll'],
      ];
  return [first, second, [['inverse', '    PID TID  STATE  COMMAND / FIELD, VALUE, RECENT']]];
}

/** Render a line to at most `cols` columns; a line cut at the edge ends with … to say so. */
function render(line: Line, cols: number, paint: Painter): string {
  let out = '';
  let left = cols;
  for (const [style, text] of line) {
    if (left <= 0) break;
    const t = width(text) > left ? truncate(text, left) : text;
    left -= width(t);
    out += paint.paint(style, t);
  }
  return out;
}

const ENTER = '\x1b[?1049h\x1b[?25l\x1b[H\x1b[2J';
// Cursor shown after leaving the alternate screen: some terminals restore the mode saved on entry.
const LEAVE = '\x1b[0m\x1b[?1049l\x1b[?25h';

/** Run `mmstats top`. */
export async function run(argv: string[]): Promise<number> {
  guardPipes();
  const { values: opts, positionals } = parse(argv, {
    delay: { type: 'string', short: 'd' },
    percentiles: { type: 'string' },
    batch: { type: 'boolean', short: 'b' },
    count: { type: 'string', short: 'c' },
    ...PATH_OPTION,
  });
  if (opts.help) {
    await write(HELP);
    return Exit.OK;
  }
  const delayMs = numberOption('--delay', opts.delay as string | undefined, 1, 0.05) * 1000;
  const quantiles = percentileColumns(opts.percentiles as string | undefined, [50, 99]);
  const board = new Board(readPatterns(opts, positionals), quantiles);
  const view: ViewState = { filter: '', editing: false, sort: 'label', showStatic: false, scroll: 0 };

  if (opts.batch) {
    const count = numberOption('--count', opts.count as string | undefined, 1, 1, true);
    const paint = new Painter(useColor(process.stdout));
    const cols = process.stdout.columns || 120;
    for (let i = 0; i < count; i++) {
      if (i > 0) await new Promise((r) => setTimeout(r, delayMs));
      board.refresh();
      const lines = [...headerLines(board, view, delayMs).filter((_, j) => j !== 1), ...bodyLines(board, view, cols)];
      await write(lines.map((l) => render(l, cols, paint)).join('\n') + '\n\n');
    }
    return Exit.OK;
  }
  if (opts.count !== undefined) throw new UsageError('--count goes with --batch');
  if (!process.stdout.isTTY || !process.stdin.isTTY) {
    throw new UsageError('top needs a terminal; use --batch, poll or slurp when output goes to a pipe or file');
  }
  return interactive(board, view, delayMs);
}

function interactive(board: Board, view: ViewState, delayMs: number): Promise<number> {
  const out = process.stdout;
  const stdin = process.stdin;
  const paint = new Painter(useColor(out));
  let restored = false;
  // Synchronous, so that it also works from the 'exit' event and after a crash.
  const restore = () => {
    if (restored) return;
    restored = true;
    try {
      stdin.setRawMode(false);
    } catch {
      // stdin already gone: nothing to restore there.
    }
    try {
      fs.writeSync(1, LEAVE);
    } catch {
      // The terminal went away.
    }
  };
  process.on('exit', restore);

  let bodyHeight = 1;
  let maxScroll = 0;
  const draw = () => {
    const cols = out.columns || 80;
    const rows = out.rows || 24;
    const head = headerLines(board, view, delayMs);
    const body = bodyLines(board, view, cols);
    bodyHeight = Math.max(1, rows - head.length);
    maxScroll = Math.max(0, body.length - bodyHeight);
    view.scroll = Math.min(view.scroll, maxScroll);
    const visible = [...head, ...body.slice(view.scroll, view.scroll + bodyHeight)];
    out.write('\x1b[H' + visible.map((l) => render(l, cols, paint) + '\x1b[K').join('\r\n') + '\x1b[J');
  };

  return new Promise<number>((resolve) => {
    let timer: NodeJS.Timeout | undefined;
    const quit = (code: number) => {
      clearInterval(timer);
      stdin.removeListener('keypress', onKey);
      out.removeListener('resize', draw);
      for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.removeListener(s, onSignal);
      stdin.pause();
      restore();
      process.removeListener('exit', restore);
      resolve(code);
    };
    const onSignal = () => quit(Exit.OK);
    const onKey = (str: string | undefined, key: readline.Key | undefined) => {
      const name = key?.name;
      if (key?.ctrl && name === 'c') return quit(Exit.OK);
      if (view.editing) {
        if (name === 'return' || name === 'enter') view.editing = false;
        else if (name === 'escape') {
          view.filter = '';
          view.editing = false;
        } else if (name === 'backspace') view.filter = view.filter.slice(0, -1);
        else if (str && !key?.ctrl && !key?.meta && str >= ' ' && str !== '\x7f') view.filter += str;
        view.scroll = 0;
        return draw();
      }
      if (str === 'q' || name === 'q') return quit(Exit.OK);
      if (str === '/') {
        view.editing = true;
        view.filter = '';
      } else if (str === 's') view.sort = SORTS[(SORTS.indexOf(view.sort) + 1) % SORTS.length]!;
      else if (str === 'a') view.showStatic = !view.showStatic;
      else if (name === 'escape') view.filter = '';
      else if (name === 'down' || str === 'j') view.scroll = Math.min(maxScroll, view.scroll + 1);
      else if (name === 'up' || str === 'k') view.scroll = Math.max(0, view.scroll - 1);
      else if (name === 'pagedown' || str === ' ') view.scroll = Math.min(maxScroll, view.scroll + bodyHeight);
      else if (name === 'pageup') view.scroll = Math.max(0, view.scroll - bodyHeight);
      else if (name === 'home') view.scroll = 0;
      else if (name === 'end') view.scroll = maxScroll;
      else return;
      draw();
    };
    try {
      out.write(ENTER);
      readline.emitKeypressEvents(stdin);
      stdin.setRawMode(true);
      stdin.resume();
      stdin.on('keypress', onKey);
      out.on('resize', draw);
      for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(s, onSignal);
      board.refresh();
      draw();
      timer = setInterval(() => {
        board.refresh();
        draw();
      }, delayMs);
    } catch (err) {
      restore();
      throw err;
    }
  });
}
