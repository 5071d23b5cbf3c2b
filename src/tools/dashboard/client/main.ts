/**
 * The dashboard page: subscribes to /api/stream and keeps the writer list, the
 * charts and the fields table in step with it. Every text from a stats file is
 * set with textContent (see dom.ts).
 */
import type { WireField, WireUpdate } from '../protocol.js';
import { Charts } from './charts.js';
import { h, setText, toggle } from './dom.js';
import { formatValue, isPlottable } from './format.js';
import { History, type WriterState } from './state.js';

/** More charts than this is noise: the page asks for a narrower filter. */
const MAX_CHARTS = 24;
/** Writers whose fields the table lists at once. */
const MAX_GROUPS = 40;

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

const state = new History();
const charts = new Charts($('charts'));
const ui = {
  status: $('status'),
  paths: $('paths'),
  filter: $<HTMLInputElement>('filter'),
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
}
function writeHash(): void {
  const params = new URLSearchParams();
  if (ui.filter.value) params.set('filter', ui.filter.value);
  if (selected) params.set('writer', selected);
  if (ui.showStatic.checked) params.set('static', '1');
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

function matches(f: WireField): boolean {
  const prefix = ui.filter.value.trim();
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
  ui.fields.replaceChildren(...groups);
}

function updateValues(): void {
  for (const row of fieldRows) {
    const s = state.writers.get(row.writer);
    const i = s?.index.get(row.label);
    if (!s || i === undefined) continue;
    setText(row.value, formatValue(s.fields[i]!, s.values[i]));
  }
}

// ---- Charts.
function chartLabels(writers: readonly WriterState[]): { labels: string[]; total: number } {
  const set = new Set<string>();
  for (const s of writers) s.fields.forEach((f, i) => matches(f) && isPlottable(f, s.values[i]) && set.add(f.label));
  const all = [...set].sort();
  return { labels: all.slice(0, MAX_CHARTS), total: all.length };
}

// ---- The whole page.
function render(structural: boolean): void {
  renderWriters();
  const writers = inView();
  if (structural) rebuildFields(writers);
  updateValues();
  const { labels, total } = chartLabels(writers);
  charts.update(state, labels, writers);
  setText(ui.chartNote, total > labels.length ? `Showing ${labels.length} of ${total} charts: narrow the filter to see the rest.` : '');
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
for (const input of [ui.filter, ui.showStatic]) {
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
