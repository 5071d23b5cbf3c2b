#!/usr/bin/env node
/**
 * `mmstats`: one program for every command-line reader. The original's tool names
 * (slurpstats, pollstats, cleanstats, mmash) are aliases chosen by the name the
 * program is run as.
 *
 * Subcommands live in ./commands/<name>.js and are imported only when run, so a
 * command whose module cannot load never breaks the others.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Exit, UsageError, type Command } from './args.js';
import { guardPipes, warn } from './term.js';

/** Every subcommand and its one-line summary (shown without loading its module). */
const COMMANDS: Readonly<Record<string, string>> = {
  slurp: 'print every field of every stats file once',
  poll: 'print chosen fields every few seconds, like vmstat',
  top: 'full-screen live view of the writers and their fields',
  clean: 'remove the stats files of writers that are gone',
  serve: 'HTTP server: JSON API, live dashboard and Prometheus /metrics',
  export: 'write a Prometheus textfile-collector file, once or on an interval',
};

/** The original tools' names, each an alias of one subcommand. */
const ALIASES: Readonly<Record<string, string>> = {
  slurpstats: 'slurp',
  pollstats: 'poll',
  cleanstats: 'clean',
  mmash: 'serve',
};

function version(): string {
  const pkg = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'package.json');
  try {
    return (JSON.parse(fs.readFileSync(pkg, 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

function usage(): string {
  const w = Object.keys(COMMANDS).reduce((m, c) => Math.max(m, c.length), 0);
  const lines = Object.entries(COMMANDS).map(([name, summary]) => `  ${name.padEnd(w)}  ${summary}`);
  return [
    'Usage: mmstats <command> [options] [PATH|GLOB...]',
    '',
    'Read the live stats that programs publish in memory-mapped files.',
    '',
    'Commands:',
    ...lines,
    '',
    'Options:',
    '  -h, --help     show help (also: mmstats <command> --help)',
    '  -V, --version  show the version',
    '',
    'Without PATH or GLOB, commands read MMSTATS_GLOB, else MMSTATS_PATH/*.mmstats,',
    'else the per-user default stats directory. Colour is used only on a terminal',
    'and never when NO_COLOR is set.',
    '',
    'Aliases: slurpstats = slurp, pollstats = poll, cleanstats = clean, mmash = serve.',
    'Exit status: 0 ok, 1 a file or the command failed, 2 usage error.',
    '',
  ].join('\n');
}

async function load(name: string): Promise<Command> {
  // A computed specifier: the TypeScript build must not require every module to exist.
  const url = new URL(`./commands/${name}.js`, import.meta.url).href;
  const mod = (await import(url)) as Partial<Command>;
  if (typeof mod.run !== 'function') throw new Error(`module ${url} exports no run()`);
  return mod as Command;
}

/** Run the CLI with `argv` (without node and script) as program `program`; resolves with the exit status. */
export async function main(argv: string[], program: string): Promise<number> {
  let name = ALIASES[program.replace(/\.[cm]?js$/, '')];
  let rest = argv;
  if (name === undefined) {
    const first = argv[0];
    if (first === undefined) {
      warn(usage());
      return Exit.USAGE;
    }
    if (first === '-h' || first === '--help' || first === 'help') {
      process.stdout.write(usage());
      return Exit.OK;
    }
    if (first === '-V' || first === '--version') {
      process.stdout.write(`mmstats ${version()}\n`);
      return Exit.OK;
    }
    if (!(first in COMMANDS)) {
      warn(`mmstats: unknown command ${JSON.stringify(first)}; commands: ${Object.keys(COMMANDS).join(', ')} (see mmstats --help)`);
      return Exit.USAGE;
    }
    name = first;
    rest = argv.slice(1);
  }
  let command: Command;
  try {
    command = await load(name);
  } catch (err) {
    warn(`mmstats: the ${name} command cannot be loaded: ${(err as Error).message}`);
    return Exit.FAILURE;
  }
  try {
    return await command.run(rest);
  } catch (err) {
    if (err instanceof UsageError) {
      warn(`mmstats ${name}: ${err.message}\nsee: mmstats ${name} --help`);
      return Exit.USAGE;
    }
    warn(`mmstats ${name}: ${(err as Error)?.stack ?? String(err)}`);
    return Exit.FAILURE;
  }
}

/** True when this module is the program being run (directly or through a bin link), not imported. */
function isMain(): boolean {
  try {
    return process.argv[1] !== undefined && fs.realpathSync(process.argv[1]) === fs.realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

const invokedAs = path.basename(process.argv[1] ?? 'mmstats');
if (isMain()) {
  guardPipes();
  main(process.argv.slice(2), invokedAs).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      warn(`mmstats: ${(err as Error)?.stack ?? String(err)}`);
      process.exitCode = Exit.FAILURE;
    },
  );
}
