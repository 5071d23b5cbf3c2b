import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { Header } from '../src/format/v2.js';
import { processStartToken } from '../src/platform/identity.js';
import { runCli, runScript, tempStatsDir, type ScriptProcess } from './helpers/proc.js';

const WRITER = `
const stats = openStats({ name: env.NAME, path: env.DIR, format: Number(env.FORMAT) });
stats.add('jobs.done', field.counter());
globalThis.keepRunning = true;
ready(stats.path);
`;

async function startWriter(dir: string, name: string, format: 1 | 2 = 2): Promise<{ writer: ScriptProcess; file: string }> {
  const writer = runScript(WRITER, { env: { DIR: dir, NAME: name, FORMAT: String(format) } });
  return { writer, file: (await writer.ready) as string };
}

async function killed(dir: string, name: string, format: 1 | 2 = 2): Promise<string> {
  const { writer, file } = await startWriter(dir, name, format);
  writer.child.kill('SIGKILL');
  await writer.exited;
  return file;
}

/** A copy of a real v2 file that claims `pid` with `startToken`; nobody holds its lock. */
function forge(from: string, to: string, pid: number, startToken: number): string {
  const bytes = fs.readFileSync(from);
  bytes.writeUInt32LE(pid, Header.PID);
  bytes.writeDoubleLE(startToken, Header.START_TOKEN);
  fs.writeFileSync(to, bytes, { mode: 0o600 });
  return to;
}

function lineFor(stdout: string, file: string): string {
  return stdout.split('\n').find((l) => l.includes(`${file}:`)) ?? `(no line for ${file})`;
}

test('clean removes the files of dead writers and keeps live ones, symlinks, foreign files and pid-reuse look-alikes apart', async () => {
  const dir = tempStatsDir();
  const elsewhere = tempStatsDir();
  const live = await startWriter(dir, 'Live');
  const liveV1 = await startWriter(dir, 'LiveOld', 1);
  const dead = await killed(dir, 'Dead');
  const deadV1 = await killed(dir, 'DeadOld', 1);
  const myToken = processStartToken(process.pid);
  assert.ok(myToken !== undefined, 'this test needs /proc to read start tokens');
  // This process is alive and holds no lock on these copies: only the start token tells them apart.
  const reused = forge(live.file, path.join(dir, 'reused-pid.mmstats'), process.pid, myToken + 12345);
  const sameToken = forge(live.file, path.join(dir, 'same-token.mmstats'), process.pid, myToken);
  const foreign = path.join(dir, 'notes.mmstats');
  fs.writeFileSync(foreign, 'not stats\n');
  // A symlink whose target is a stale stats file: neither may be touched.
  const target = forge(live.file, path.join(elsewhere, 'target.mmstats'), 999_999_999, 1);
  const link = path.join(dir, 'link.mmstats');
  fs.symlinkSync(target, link);

  try {
    const dry = await runCli(['clean', '--dry-run', dir]);
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(lineFor(dry.stdout, dead), /^would remove/);
    assert.ok(fs.existsSync(dead) && fs.existsSync(deadV1) && fs.existsSync(reused), 'a dry run removes nothing');
    assert.match(dry.stdout, /^Would remove 3 - 3 alive$/m);

    const r = await runCli(['clean', dir]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(lineFor(r.stdout, live.file), /^kept .*writer pid \d+ is alive \(it holds the file's lock\)/);
    assert.match(lineFor(r.stdout, liveV1.file), /^kept .*writer pid \d+ is alive/);
    assert.match(lineFor(r.stdout, dead), /^removed .*writer pid \d+ is gone/);
    assert.match(lineFor(r.stdout, deadV1), /^removed .*writer pid \d+ is gone/);
    assert.match(
      lineFor(r.stdout, reused),
      new RegExp(`^removed .*pid ${process.pid} now belongs to another process \\(start token differs\\)`),
    );
    assert.match(lineFor(r.stdout, sameToken), new RegExp(`^kept .*pid ${process.pid} runs with the writer's start token`));
    assert.match(lineFor(r.stdout, foreign), /^kept .*not an mmstats file/);
    assert.match(lineFor(r.stdout, link), /^kept .*symbolic link/);
    assert.match(r.stdout, /^Removed 3 - 3 alive$/m);

    assert.deepEqual(
      [live.file, liveV1.file, sameToken, foreign, link, target].filter((f) => !fs.existsSync(f)),
      [],
      'kept files are all still there',
    );
    assert.deepEqual(
      [dead, deadV1, reused].filter((f) => fs.existsSync(f)),
      [],
      'stale files are gone',
    );
    assert.ok(fs.lstatSync(link).isSymbolicLink());
    assert.equal(fs.readFileSync(foreign, 'utf8'), 'not stats\n');

    // The live writer still works and still reads as alive after the clean.
    const again = await runCli(['clean', dir]);
    assert.match(again.stdout, /^Removed 0 - 3 alive$/m);
  } finally {
    live.writer.child.kill('SIGKILL');
    liveV1.writer.child.kill('SIGKILL');
    await Promise.all([live.writer.exited, liveV1.writer.exited]);
  }
});

test('clean of a file whose writer closed it with keep leaves it unless --persistent is given', async () => {
  const dir = tempStatsDir();
  const writer = runScript(
    `const stats = openStats({ name: 'Kept', path: env.DIR, keep: true });
     stats.add('n', field.counter()).incr();
     on('close', () => stats.close());
     ready(stats.path);`,
    { env: { DIR: dir } },
  );
  const file = (await writer.ready) as string;
  await writer.call('close');
  await writer.end();
  const r = await runCli(['clean', dir]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(lineFor(r.stdout, file), /^kept .*persistent/);
  assert.ok(fs.existsSync(file));
  const all = await runCli(['clean', '--persistent', dir]);
  assert.match(lineFor(all.stdout, file), /^removed .*closed by its writer/);
  assert.ok(!fs.existsSync(file));
});
