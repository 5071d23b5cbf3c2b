/**
 * Attacks between local users, with real unprivileged users (made by .ci/run):
 * a user who squats another's per-user stats directory, and `clean` in a shared,
 * non-sticky directory holding several users' files.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runCli, runScript, tempStatsDir } from './helpers/proc.js';
import { ATTACKER, VICTIM, cli, publicScript, runAs, testUsers, type TestUser } from './helpers/users.js';

const users = testUsers(ATTACKER, VICTIM);
const skip = typeof users === 'string' ? users : process.platform !== 'linux' ? 'needs Linux (/dev/shm)' : false;
const [attacker, victim] = typeof users === 'string' ? [] : (users as [TestUser, TestUser]);

/** Run a command as `user`; fails the test if it fails. */
function as(user: TestUser, cmd: string, ...args: string[]): void {
  const r = spawnSync(cmd, args, { uid: user.uid, gid: user.gid, encoding: 'utf8' });
  assert.equal(r.status, 0, `${user.name}: ${cmd} ${args.join(' ')}: ${r.stderr}`);
}

/** A writer of the victim: opens its stats in the default place, counts 42, and exits leaving the file (kept). */
const VICTIM_WRITER = `
const stats = mmstats.openStats({ name: 'victim', keep: true, filename: process.env.NAME });
stats.add('secret.count', mmstats.field.counter()).incr(42);
console.log(JSON.stringify({ path: stats.path }));
stats.close();
`;

test(
  'a squatted per-user directory: the victim writer starts in a private fallback, warns once, and the victim readers find it; nothing of the attacker is read',
  { skip },
  async (t) => {
    const squat = `/dev/shm/mmstats-${VICTIM}`;
    const clear = () => {
      for (const n of fs.readdirSync('/dev/shm'))
        if (n.startsWith(`mmstats-${VICTIM}`)) fs.rmSync(path.join('/dev/shm', n), { recursive: true, force: true });
    };
    clear();
    t.after(clear);
    const writer = publicScript(VICTIM_WRITER);

    // The attacker makes the victim's directory name first, world-writable, and a decoy that looks like a fallback.
    as(attacker!, 'mkdir', '-m', '0777', squat);
    const decoy = `${squat}.AAAAAA`;
    as(attacker!, 'mkdir', '-m', '0755', decoy);
    const planted = runScript(
      `const s = openStats({ name: 'planted', path: env.DIR, keep: true, filename: 'planted.mmstats' }); s.add('secret.count', field.counter()).incr(666); s.close(); ready(s.path);`,
      {
        env: { DIR: tempStatsDir() },
      },
    );
    const plantedFile = (await planted.ready) as string;
    await planted.end();
    fs.copyFileSync(plantedFile, path.join(decoy, 'planted.mmstats'));
    fs.chownSync(path.join(decoy, 'planted.mmstats'), attacker!.uid, attacker!.gid);
    fs.chmodSync(path.join(decoy, 'planted.mmstats'), 0o644);

    const first = await runAs(victim!, [writer], { NAME: 'first.mmstats' });
    assert.equal(first.code, 0, `the victim's writer starts: ${first.stderr}`);
    const firstPath = (JSON.parse(first.stdout) as { path: string }).path;
    const fallback = path.dirname(firstPath);
    assert.match(fallback, new RegExp(`^${squat}\\.[A-Za-z0-9]{6}$`));
    assert.notEqual(fallback, decoy);
    const st = fs.lstatSync(fallback);
    assert.ok(st.isDirectory() && st.uid === victim!.uid && (st.mode & 0o777) === 0o700, 'a private directory of the victim');
    assert.equal(first.stderr.match(/MMSTATS_DIR_FALLBACK/g)?.length, 1, first.stderr);
    assert.match(first.stderr, new RegExp(`${squat} is refused \\(it belongs to uid ${attacker!.uid}\\)`));

    // A second writer goes to the same fallback.
    const second = await runAs(victim!, [writer], { NAME: 'second.mmstats' });
    assert.equal(second.code, 0, second.stderr);
    assert.equal(path.dirname((JSON.parse(second.stdout) as { path: string }).path), fallback);

    // The victim's readers, with no path given, find both and read nothing of the attacker's.
    const slurp = await runAs(victim!, [cli(), 'slurp']);
    assert.equal(slurp.code, 0, slurp.stderr);
    assert.match(slurp.stdout, new RegExp(`==> ${fallback}/first.mmstats`));
    assert.match(slurp.stdout, new RegExp(`==> ${fallback}/second.mmstats`));
    // The planted file by its name, or its value on its own line (digits alone can turn up in a timestamp).
    assert.doesNotMatch(slurp.stdout, /planted|^secret\.count +666$/m);

    // With a private $XDG_RUNTIME_DIR, the fallback is there instead, and readers of that session find it.
    const xdg = fs.mkdtempSync(path.join(os.tmpdir(), 'mmstats-xdg-'));
    t.after(() => fs.rmSync(xdg, { recursive: true, force: true }));
    fs.chownSync(xdg, victim!.uid, victim!.gid);
    fs.chmodSync(xdg, 0o700);
    const inXdg = await runAs(victim!, [writer], { NAME: 'xdg.mmstats', XDG_RUNTIME_DIR: xdg });
    assert.equal(inXdg.code, 0, inXdg.stderr);
    assert.equal((JSON.parse(inXdg.stdout) as { path: string }).path, path.join(xdg, `mmstats-${VICTIM}`, 'xdg.mmstats'));
    const slurpXdg = await runAs(victim!, [cli(), 'slurp'], { XDG_RUNTIME_DIR: xdg });
    assert.match(slurpXdg.stdout, /xdg\.mmstats/);
    assert.match(slurpXdg.stdout, /first\.mmstats/);

    // A symlink squat is refused the same way.
    fs.rmSync(squat, { recursive: true });
    as(attacker!, 'ln', '-s', '/tmp', squat);
    const linked = await runAs(victim!, [writer], { NAME: 'third.mmstats' });
    assert.equal(linked.code, 0, linked.stderr);
    assert.equal(path.dirname((JSON.parse(linked.stdout) as { path: string }).path), fallback);
    assert.match(linked.stderr, /is refused \(it is a symbolic link\)/);
  },
);

/** A stale file (its writer SIGKILLed), mode 0644, moved into `dir` and given to `owner`. */
async function staleFile(dir: string, name: string, owner?: TestUser): Promise<string> {
  const w = runScript(
    `const s = openStats({ name: 'gone', path: env.DIR, filename: env.NAME, mode: 0o644, defaultFields: false }); s.add('n', field.counter()); ready(s.path);`,
    {
      env: { DIR: tempStatsDir(), NAME: name },
    },
  );
  const made = (await w.ready) as string;
  w.child.kill('SIGKILL');
  await w.exited;
  const file = path.join(dir, name);
  fs.renameSync(made, file);
  if (owner) fs.chownSync(file, owner.uid, owner.gid);
  return file;
}

test("clean in a shared, non-sticky directory removes only the invoking user's stale files unless --all-users", { skip }, async (t) => {
  const shared = fs.mkdtempSync(path.join(os.tmpdir(), 'mmstats-shared-'));
  t.after(() => fs.rmSync(shared, { recursive: true, force: true }));
  fs.chmodSync(shared, 0o777); // anyone may unlink anything in it: no sticky bit
  const rootFile = await staleFile(shared, 'root.mmstats');
  const victimFile = await staleFile(shared, 'victim.mmstats', victim);
  const attackerFile = await staleFile(shared, 'attacker.mmstats', attacker);

  const byAttacker = await runAs(attacker!, [cli(), 'clean', shared]);
  assert.equal(byAttacker.code, 0, byAttacker.stderr);
  assert.match(byAttacker.stdout, new RegExp(`removed +${attackerFile}: `));
  assert.match(byAttacker.stdout, new RegExp(`kept +${rootFile}: belongs to uid 0, not to you`));
  assert.match(byAttacker.stdout, new RegExp(`kept +${victimFile}: belongs to uid ${victim!.uid}, not to you`));
  assert.deepEqual(fs.readdirSync(shared).sort(), ['root.mmstats', 'victim.mmstats']);

  // Asked for all users, it still cannot take the lock of a file it may not write: kept.
  const allByAttacker = await runAs(attacker!, [cli(), 'clean', '--all-users', shared]);
  assert.equal(allByAttacker.code, 0, allByAttacker.stderr);
  assert.deepEqual(fs.readdirSync(shared).sort(), ['root.mmstats', 'victim.mmstats']);

  const byRoot = await runCli(['clean', shared]);
  assert.match(byRoot.stdout, new RegExp(`removed +${rootFile}: `));
  assert.match(byRoot.stdout, new RegExp(`kept +${victimFile}: belongs to uid ${victim!.uid}, not to you: --all-users`));
  assert.deepEqual(fs.readdirSync(shared), ['victim.mmstats']);

  const allByRoot = await runCli(['clean', '--all-users', shared]);
  assert.match(allByRoot.stdout, new RegExp(`removed +${victimFile}: `));
  assert.deepEqual(fs.readdirSync(shared), []);
});
