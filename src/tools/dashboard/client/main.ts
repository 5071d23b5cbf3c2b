/**
 * The dashboard page: subscribes to /api/stream and keeps the writer list, the
 * charts and the fields table in step with it. Every text from a stats file is
 * set with textContent (see dom.ts).
 */
import type { WireField, WireHistory, WireUpdate } from '../protocol.js';
import { Charts, type SectionSpec } from './charts.js';
import { h, setText, toggle } from './dom.js';
import { formatValue, isPlottable } from '../format.js';
import { labelsMatch, parseFilter, type Filter } from '../filter.js';
import { History, chartKey, isActive, type WriterState } from './state.js';

/**
 * Sections open by themselves while the charts they hold stay within this
 * count; later ones start closed (a closed section draws nothing) and the
 * page says how many charts they hold. Opening one draws it, whatever the count.
 */
const AUTO_OPEN_CHARTS = 60;
/** Writers whose fields the table lists at once. */
const MAX_GROUPS = 40;
/** The time ranges the page offers, in seconds. */
const RANGES: Readonly<Record<string, number>> = { '5m': 300, '15m': 900, '1h': 3600 };

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

// ---- Pins and open or closed sections: kept in this browser.
const PINS_KEY = 'mmstats.pins';
const SECTIONS_KEY = 'mmstats.sections';
function load<T>(key: string, fallback: T): T {
  try {
    const v = JSON.parse(localStorage.getItem(key) ?? 'null') as T | null;
    return v ?? fallback;
  } catch {
    return fallback;
  }
}
function save(key: string, v: unknown): void {
  try {
    localStorage.setItem(key, JSON.stringify(v));
  } catch {
    // Storage full or refused: the choice lasts until the page closes.
  }
}
const pins = new Set<string>(load<string[]>(PINS_KEY, []));
const sectionChoice = new Map<string, boolean>(Object.entries(load<Record<string, boolean>>(SECTIONS_KEY, {})));

const state = new History();
const charts = new Charts($('charts'), {
  isPinned: (label) => pins.has(label),
  pin(label) {
    if (!pins.delete(label)) pins.add(label);
    save(PINS_KEY, [...pins]);
    render(false);
  },
  toggled(section, open) {
    if (sectionChoice.get(section) === open || (!sectionChoice.has(section) && lastOpen.get(section) === open)) return;
    sectionChoice.set(section, open);
    save(SECTIONS_KEY, Object.fromEntries(sectionChoice));
    render(false);
  },
});
/** Whether each section was open at the last render (to tell a user's toggle from the page's own). */
const lastOpen = new Map<string, boolean>();
const ui = {
  status: $('status'),
  paths: $('paths'),
  filter: $<HTMLInputElement>('filter'),
  range: $<HTMLSelectElement>('range'),
  showStatic: $<HTMLInputElement>('show-static'),
  writerList: $<HTMLUListElement>('writer-list'),
  writerSummary: $('writer-summary'),
  chartNote: $('chart-note'),
  fields: $('fields'),
  empty: $('empty'),
  scope: $('scope'),
};

/** The writer the page is focused on, if any (click in the list). */
let selected: string | undefined;
let lastUpdate = 0;

// ---- URL state: the filter and the focused writer survive a reload.
function readHash(): void {
  const params = new URLSearchParams(location.hash.slice(1));
  ui.filter.value = params.get('filter') ?? '';
  selected = params.get('writer') ?? undefined;
  ui.showStatic.checked = params.get('static') === '1';
  ui.range.value = RANGES[params.get('range') ?? ''] ? params.get('range')! : '5m';
}
function writeHash(): void {
  const params = new URLSearchParams();
  if (ui.filter.value) params.set('filter', ui.filter.value);
  if (selected) params.set('writer', selected);
  if (ui.showStatic.checked) params.set('static', '1');
  if (ui.range.value !== '5m') params.set('range', ui.range.value);
  const hash = params.toString();
  window.history.replaceState(null, '', hash ? `#${hash}` : location.pathname);
}

// ---- Writers list.
interface WriterRow {
  readonly li: HTMLLIElement;
  readonly cmd: HTMLElement;
  readonly meta: HTMLElement;
  readonly file: HTMLElement;
  readonly error: HTMLElement;
}
const writerRows = new Map<string, WriterRow>();

function shortCommand(cmd: string): string {
  // `/usr/bin/node /srv/app/dist/server.js --port 80` → `node server.js --port 80`
  return cmd
    .split(' ')
    .map((word, i) => (i < 2 ? (word.split('/').pop() ?? word) : word))
    .join(' ');
}

function writerStatus(w: WriterState['writer']): string {
  if (w.error) return 'error';
  if (w.alive) return 'live';
  return w.state === 'closed' ? 'closed' : 'stale';
}

function renderWriters(): void {
  const list = [...state.writers.values()].sort(
    (a, b) => a.writer.pid - b.writer.pid || a.writer.tid - b.writer.tid || a.writer.file.localeCompare(b.writer.file),
  );
  for (const [id, row] of writerRows) {
    if (!state.writers.has(id)) {
      row.li.remove();
      writerRows.delete(id);
    }
  }
  if (selected && !state.writers.has(selected)) selected = undefined;
  list.forEach((s, i) => {
    const w = s.writer;
    let row = writerRows.get(w.id);
    if (!row) {
      const cmd = h('span', { class: 'writer-cmd' });
      const meta = h('span', { class: 'writer-meta' });
      const file = h('span', { class: 'writer-file' });
      const error = h('span', { class: 'writer-error' });
      const li = h(
        'li',
        { class: 'writer', data: { id: w.id } },
        h('span', { class: 'dot' }),
        h('span', { class: 'writer-body' }, cmd, meta, file, error),
      );
      li.tabIndex = 0;
      li.setAttribute('role', 'button');
      const choose = () => {
        selected = selected === w.id ? undefined : w.id;
        writeHash();
        render(true);
      };
      li.addEventListener('click', choose);
      li.addEventListener('keydown', (e) => {
        if (e.key === 'Enter' || e.key === ' ') {
          e.preventDefault();
          choose();
        }
      });
      row = { li, cmd, meta, file, error };
      writerRows.set(w.id, row);
    }
    if (ui.writerList.children[i] !== row.li) ui.writerList.insertBefore(row.li, ui.writerList.children[i] ?? null);
    const status = writerStatus(w);
    for (const c of ['live', 'stale', 'closed', 'error']) toggle(row.li, c, c === status);
    toggle(row.li, 'selected', selected === w.id);
    row.li.setAttribute('aria-pressed', String(selected === w.id));
    setText(row.cmd, w.error ? w.file : shortCommand(w.cmd) || w.file);
    row.cmd.title = w.cmd;
    setText(row.meta, w.error ? 'unreadable' : `pid ${w.pid}${w.tid ? ` · thread ${w.tid}` : ' · main'} · ${status}`);
    setText(row.file, w.error ? '' : w.file);
    setText(row.error, w.error ?? '');
  });
  const n = list.length;
  const live = list.filter((s) => s.writer.alive).length;
  const errors = list.filter((s) => s.writer.error).length;
  const stale = n - live - errors;
  setText(ui.writerSummary, `${n} · ${live} live${stale ? ` · ${stale} stale` : ''}${errors ? ` · ${errors} unreadable` : ''}`);
}

// ---- Fields table, grouped by writer.
interface FieldRow {
  readonly tr: HTMLTableRowElement;
  readonly value: HTMLTableCellElement;
  readonly writer: string;
  readonly label: string;
}
let fieldRows: FieldRow[] = [];

function inView(): WriterState[] {
  const all = [...state.writers.values()].filter((s) => !s.writer.error);
  const chosen = selected ? all.filter((s) => s.writer.id === selected) : all;
  return chosen.sort((a, b) => a.writer.pid - b.writer.pid || a.writer.tid - b.writer.tid);
}

/** The filter box parsed, kept while its text stays. */
let filter: { text: string; parsed: Filter } = { text: '', parsed: { prefix: '' } };
function matches(f: WireField): boolean {
  if (filter.text !== ui.filter.value) filter = { text: ui.filter.value, parsed: parseFilter(ui.filter.value) };
  const { prefix, labels } = filter.parsed;
  if (labels && !labelsMatch(f.labels, labels)) return false;
  return (prefix === '' || f.label.startsWith(prefix)) && (ui.showStatic.checked || !f.static);
}

function rebuildFields(writers: readonly WriterState[]): void {
  fieldRows = [];
  const groups: HTMLElement[] = [];
  let hidden = 0;
  for (const s of writers) {
    const shown = s.fields.filter(matches);
    if (shown.length > 0 && groups.length >= MAX_GROUPS) {
      hidden++;
      continue;
    }
    if (shown.length === 0) continue;
    const tbody = h('tbody');
    for (const f of shown) {
      const value = h('td', { class: 'value' });
      const tr = h(
        'tr',
        { class: f.static ? 'static' : '', data: { label: f.label } },
        h('td', { class: 'label', text: f.label, title: f.help }),
        h('td', {}, h('span', { class: `kind kind-${f.kind.replace(/[^a-z]/g, '')}`, text: f.kind })),
        value,
      );
      tbody.append(tr);
      fieldRows.push({ tr, value, writer: s.writer.id, label: f.label });
    }
    const w = s.writer;
    groups.push(
      h(
        'section',
        { class: 'fieldgroup', data: { writer: w.id } },
        h(
          'h3',
          {},
          h('span', { class: `dot ${writerStatus(w)}` }),
          h('span', { text: shortCommand(w.cmd) || w.file }),
          h('span', { class: 'muted', text: `pid ${w.pid}${w.tid ? ` · thread ${w.tid}` : ''}` }),
        ),
        h(
          'table',
          { class: 'fields' },
          h('thead', {}, h('tr', {}, h('th', { text: 'label' }), h('th', { text: 'kind' }), h('th', { text: 'value' }))),
          tbody,
        ),
      ),
    );
  }
  if (hidden > 0)
    groups.push(h('p', { class: 'muted', text: `${hidden} more writers: focus on one or narrow the filter to see their fields.` }));
  // One fragment, not a spread: a spread's arguments all go on the stack.
  const fragment = document.createDocumentFragment();
  for (const g of groups) fragment.append(g);
  ui.fields.replaceChildren(fragment);
}

function updateValues(): void {
  for (const row of fieldRows) {
    const s = state.writers.get(row.writer);
    const i = s?.index.get(row.label);
    if (!s || i === undefined) continue;
    setText(row.value, formatValue(s.fields[i]!, s.values[i]));
  }
}

// ---- Charts, in sections: pinned first, then the program's own fields, then HTTP, then the runtime's.
/** The section of a label: its first word, two for the runtime's (`nodejs.heap`), and the order of sections. */
function sectionOf(label: string): { key: string; rank: number } {
  const words = label.split('.');
  if (words.length === 1) return { key: '', rank: 0 };
  const first = words[0]!;
  if (first === 'http') return { key: 'http', rank: 1 };
  if (first === 'nodejs') return { key: words.slice(0, 2).join('.'), rank: 2 + Math.max(0, RUNTIME_ORDER.indexOf(words[1]!)) / 10 };
  if (first === 'sys') return { key: 'sys', rank: 3 };
  return { key: first, rank: 0 };
}
/** Runtime sections by what an operator looks at first: CPU and memory, the event loop, the heap... */
const RUNTIME_ORDER = ['process', 'eventloop', 'heap', 'gc', 'active'];

/** Points of the time axis in the chosen range: the first index shown. */
function rangeStart(): number {
  const seconds = RANGES[ui.range.value] ?? 300;
  const times = state.times;
  const since = (times[times.length - 1] ?? 0) - seconds;
  let i = times.length;
  while (i > 0 && times[i - 1]! >= since) i--;
  return i;
}

function chartSections(writers: readonly WriterState[], from: number): { sections: SectionSpec[]; matched: number; closedCharts: number } {
  const meta = new Map<string, WireField>();
  const active = new Set<string>();
  for (const s of writers) {
    s.fields.forEach((f, i) => {
      if (!matches(f) || !isPlottable(f, s.values[i])) return;
      const key = chartKey(f);
      meta.set(key, f);
      if (!active.has(key) && isActive(f, s.history.get(f.label) ?? [], from)) active.add(key);
    });
  }
  // Within a section, charts that show something come first; all-zero ones after.
  const order = (a: string, b: string) => Number(active.has(b)) - Number(active.has(a)) || a.localeCompare(b);
  const groups = new Map<string, { rank: number; labels: string[] }>();
  const pinned: string[] = [];
  for (const label of meta.keys()) {
    if (pins.has(label)) {
      pinned.push(label);
      continue;
    }
    const { key, rank } = sectionOf(label);
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { rank, labels: [] }));
    g.labels.push(label);
  }
  const sections: SectionSpec[] = [];
  if (pinned.length > 0) sections.push({ key: '★', title: 'Pinned', labels: pinned.sort(order), open: sectionChoice.get('★') ?? true });
  let budget = AUTO_OPEN_CHARTS - pinned.length;
  let closedCharts = 0;
  const sorted = [...groups].sort(([ka, a], [kb, b]) => a.rank - b.rank || ka.localeCompare(kb));
  for (const [key, g] of sorted) {
    const open = sectionChoice.get(key) ?? g.labels.length <= budget;
    if (open) budget -= g.labels.length;
    else closedCharts += g.labels.length;
    sections.push({ key, title: key === '' ? 'other fields' : key === 'http' ? 'http · HTTP' : key, labels: g.labels.sort(order), open });
  }
  for (const sp of sections) lastOpen.set(sp.key, sp.open);
  return { sections, matched: meta.size, closedCharts };
}

// ---- The whole page.
function render(structural: boolean): void {
  renderWriters();
  const writers = inView();
  if (structural) rebuildFields(writers);
  updateValues();
  const from = rangeStart();
  const { sections, matched, closedCharts } = chartSections(writers, from);
  charts.update(state, sections, writers, from, matches);
  const filter = ui.filter.value.trim();
  const nothing = filter !== '' && fieldRows.length === 0 && matched === 0 && state.writers.size > 0;
  setText(
    ui.chartNote,
    nothing
      ? `No field matches “${filter}”${selected ? ' in the writer in focus' : ''}: the filter keeps labels that start with it.`
      : closedCharts > 0
        ? `${closedCharts} more chart${closedCharts === 1 ? ' is' : 's are'} in closed sections: open a section to draw its charts.`
        : '',
  );
  toggle(ui.chartNote, 'warning', nothing);
  const sel = selected ? state.writers.get(selected)?.writer : undefined;
  setText(ui.scope, sel ? `${shortCommand(sel.cmd) || sel.file}, pid ${sel.pid}${sel.tid ? ` thread ${sel.tid}` : ''}` : 'all writers');
  const none = state.writers.size === 0;
  toggle(ui.empty, 'hidden', !none);
  setText(
    ui.empty,
    none ? `No stats files in ${state.paths.join(', ') || 'the stats path'} yet: start a program that writes mmstats there.` : '',
  );
  setText(ui.paths, state.paths.join(' · '));
}

function connect(): void {
  const source = new EventSource('/api/stream');
  source.addEventListener('open', () => {
    toggle(ui.status, 'down', false);
    setText(ui.status, 'live');
  });
  source.addEventListener('error', () => {
    toggle(ui.status, 'down', true);
    setText(ui.status, 'reconnecting…');
  });
  source.addEventListener('history', (e) => {
    try {
      state.applyHistory(JSON.parse((e as MessageEvent<string>).data) as WireHistory);
    } catch {
      return;
    }
    lastUpdate = Date.now();
    render(true);
  });
  source.addEventListener('update', (e) => {
    let update: WireUpdate;
    try {
      update = JSON.parse((e as MessageEvent<string>).data) as WireUpdate;
    } catch {
      return;
    }
    lastUpdate = Date.now();
    toggle(ui.status, 'down', false);
    setText(ui.status, 'live');
    const changed = state.apply(update);
    render(changed);
  });
}

// An update is due every second: say so when they stop coming.
setInterval(() => {
  if (lastUpdate && Date.now() - lastUpdate > 5000) {
    toggle(ui.status, 'down', true);
    setText(ui.status, `no update for ${Math.round((Date.now() - lastUpdate) / 1000)} s`);
  }
}, 1000);

readHash();
for (const input of [ui.filter, ui.showStatic, ui.range]) {
  input.addEventListener('input', () => {
    writeHash();
    render(true);
  });
}
window.addEventListener('hashchange', () => {
  readHash();
  render(true);
});
connect();
