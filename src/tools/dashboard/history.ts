/**
 * The dashboard's memory on the server: the last ticks (an hour at one a second
 * by default), so that a page that opens or reloads draws them at once.
 *
 * Each tick is kept as the JSON it is sent as, histograms as deltas from the
 * writer's previous tick (only the buckets that changed), so the memory held is
 * the bytes counted: `maxBytes` bounds it whatever the number of writers, and
 * when it is reached the oldest ticks go first (the history gets shorter, never
 * the memory larger). Writer identities and layouts are kept while a kept tick
 * refers to them.
 */
import { Buffer } from 'node:buffer';
import { histogramDelta, isWireHistogram, type WireValue, type WireWriterInfo } from './protocol.js';
import type { TickWriter } from './stream.js';

/** Bounds of the history. */
export interface HistoryOptions {
  /** How far back ticks are kept, in ms. */
  readonly keepMs: number;
  /** Bytes of encoded ticks, identities and layouts kept at most. */
  readonly maxBytes: number;
  /** Milliseconds between ticks (told to the page). */
  readonly intervalMs: number;
}

interface WriterEntry {
  /** Short key the ticks use instead of the long writer id. */
  readonly key: string;
  readonly infoJson: string;
  /** generation -> JSON of the field metadata. */
  readonly layouts: Map<number, string>;
  /** The writer's last values as read (cumulative histograms), and their generation. */
  last: readonly WireValue[];
  lastGeneration: number;
  /** Kept ticks that hold this writer. */
  refs: number;
  bytes: number;
}

interface Tick {
  readonly t: number;
  readonly json: string;
  readonly bytes: number;
  readonly ids: readonly string[];
}

/** The kept ticks of every writer, bounded in time and bytes. */
export class HistoryLog {
  private readonly ticks: Tick[] = [];
  private readonly writers = new Map<string, WriterEntry>();
  private bytes = 0;
  private nextKey = 0;

  constructor(readonly options: HistoryOptions) {}

  /** Ticks kept. */
  get length(): number {
    return this.ticks.length;
  }

  /** Bytes held (encoded ticks, identities and layouts). */
  get size(): number {
    return this.bytes;
  }

  /** Milliseconds between the oldest kept tick and the newest (0 with fewer than two). */
  get spanMs(): number {
    return this.ticks.length < 2 ? 0 : this.ticks[this.ticks.length - 1]!.t - this.ticks[0]!.t;
  }

  /** Keep one tick (error rows carry no values and are not kept). */
  record(t: number, tick: readonly TickWriter[]): void {
    const parts: string[] = [];
    const ids: string[] = [];
    const seen = new Set<string>();
    for (const { wire: w, metaComplete } of tick) {
      if (w.error) continue;
      seen.add(w.id);
      let e = this.writers.get(w.id);
      if (!e) {
        const info: WireWriterInfo = { id: w.id, file: w.file, cmd: w.cmd, pid: w.pid, tid: w.tid, osTid: w.osTid, createdMs: w.createdMs };
        const infoJson = JSON.stringify(info);
        e = { key: (this.nextKey++).toString(36), infoJson, layouts: new Map(), last: [], lastGeneration: -1, refs: 0, bytes: 0 };
        this.writers.set(w.id, e);
        this.grow(e, infoJson);
      }
      if (!e.layouts.has(w.generation)) {
        // A tick is only readable with its layout: wait for complete metadata.
        if (!metaComplete || !w.fields) continue;
        const json = JSON.stringify(w.fields);
        e.layouts.set(w.generation, json);
        this.grow(e, json);
      }
      const sameLayout = e.lastGeneration === w.generation;
      const values = w.values.map((v, i) => (isWireHistogram(v) ? histogramDelta(sameLayout ? e.last[i] : undefined, v) : v));
      e.last = w.values;
      e.lastGeneration = w.generation;
      e.refs++;
      ids.push(w.id);
      parts.push(JSON.stringify([e.key, w.generation, w.alive ? 1 : 0, w.state, values]));
    }
    const json = `{"t":${t},"w":[${parts.join(',')}]}`;
    const bytes = Buffer.byteLength(json);
    this.ticks.push({ t, json, bytes, ids });
    this.bytes += bytes;
    // Writers gone before any of their ticks was kept.
    for (const [id, e] of this.writers) if (e.refs === 0 && !seen.has(id)) this.drop(id, e);
    while (this.ticks.length > 1 && (this.bytes > this.options.maxBytes || this.ticks[0]!.t < t - this.options.keepMs)) {
      const old = this.ticks.shift()!;
      this.bytes -= old.bytes;
      for (const id of old.ids) {
        const e = this.writers.get(id);
        if (e && --e.refs === 0 && !seen.has(id)) this.drop(id, e);
      }
    }
  }

  /**
   * The `history` event's JSON (WireHistory plus `paths` and `last`, each
   * writer's last values as read, so the page computes the next deltas): built
   * from the kept strings, without encoding anything again.
   */
  replay(paths: readonly string[]): string {
    const writers: string[] = [];
    const layouts: string[] = [];
    const last: string[] = [];
    for (const e of this.writers.values()) {
      if (e.refs === 0) continue;
      writers.push(`${JSON.stringify(e.key)}:${e.infoJson}`);
      for (const [generation, json] of e.layouts) layouts.push(`${JSON.stringify(`${e.key}/${generation}`)}:${json}`);
      last.push(`${JSON.stringify(e.key)}:${JSON.stringify(e.last)}`);
    }
    return (
      `{"intervalMs":${this.options.intervalMs},"keepMs":${this.options.keepMs},"paths":${JSON.stringify(paths)},` +
      `"writers":{${writers.join(',')}},"layouts":{${layouts.join(',')}},"last":{${last.join(',')}},` +
      `"ticks":[${this.ticks.map((k) => k.json).join(',')}]}`
    );
  }

  private grow(e: WriterEntry, json: string): void {
    const bytes = Buffer.byteLength(json);
    e.bytes += bytes;
    this.bytes += bytes;
  }

  private drop(id: string, e: WriterEntry): void {
    this.bytes -= e.bytes;
    this.writers.delete(id);
  }
}
