/**
 * Argument parsing shared by the subcommands: node:util's parseArgs with strict
 * checking, turned into a usage error (exit status 2) that names the problem.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';

/** Exit statuses of every command. */
export const Exit = {
  /** Everything worked. */
  OK: 0,
  /** Some file failed or the command could not do its work. */
  FAILURE: 1,
  /** The command line was wrong. */
  USAGE: 2,
} as const;

/** A bad command line: printed with a pointer to `--help`, exit status 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

type Options = NonNullable<ParseArgsConfig['options']>;

/** What a subcommand module exports. */
export interface Command {
  /** One line for `mmstats --help`. */
  readonly summary: string;
  /** Run with the arguments after the command name; resolves with the exit status. */
  run(argv: string[]): Promise<number>;
}

/**
 * Parse `argv` against `options` (plus `--help`). Unknown options, missing values
 * and stray positionals (when `positionals` is false) are usage errors, said in
 * the tool's own words (node's parseArgs text suggests `--` with an unbalanced quote).
 */
export function parse<O extends Options>(argv: string[], options: O, positionals = true) {
  const withHelp = { ...options, help: { type: 'boolean', short: 'h' } } as const;
  checkTokens(
    parseArgs({ args: argv, options: withHelp, allowPositionals: positionals, strict: false, tokens: true }).tokens,
    withHelp,
    positionals,
  );
  try {
    return parseArgs({ args: argv, options: withHelp, allowPositionals: positionals, strict: true });
  } catch (err) {
    // Not expected after checkTokens; kept so that a parseArgs check it misses is still a usage error.
    throw new UsageError((err as Error).message.replace(/^TypeError \[[A-Z_]+\]: /, ''));
  }
}

type Token = NonNullable<ReturnType<typeof parseArgs>['tokens']>[number];

function checkTokens(tokens: readonly Token[], options: Options, positionals: boolean): void {
  const known = Object.entries(options)
    .map(([name, o]) => (o.short ? `--${name}, -${o.short}` : `--${name}`))
    .join(' ');
  for (const t of tokens) {
    if (t.kind === 'positional' && !positionals)
      throw new UsageError(`unexpected argument ${JSON.stringify(t.value)}: this command takes none`);
    if (t.kind !== 'option') continue;
    const spec = options[t.name];
    if (spec === undefined) throw new UsageError(`unknown option ${t.rawName}; options: ${known}`);
    if (spec.type === 'string' && t.value === undefined) throw new UsageError(`option ${t.rawName} needs a value`);
    if (spec.type === 'string' && !t.inlineValue && t.value?.startsWith('-')) {
      throw new UsageError(
        `option ${t.rawName} needs a value, not the option ${t.value} (a value that starts with - goes as --${t.name}=${t.value})`,
      );
    }
    if (spec.type === 'boolean' && t.inlineValue) throw new UsageError(`option ${t.rawName} takes no value`);
  }
}

/** `--path DIR`, taken by every command (repeatable), as `serve` and `export` take it. */
export const PATH_OPTION = { path: { type: 'string', multiple: true } } as const;

/** What a reading command reads: the `--path` values, then its PATH|GLOB arguments. */
export function readPatterns(values: { path?: unknown }, positionals: readonly string[]): string[] {
  return [...((values.path as string[] | undefined) ?? []), ...positionals];
}

/** A number option: finite, and at least `min`; a usage error otherwise. */
export function numberOption(name: string, raw: string | undefined, fallback: number, min: number, integer = false): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(n) || n < min || (integer && !Number.isInteger(n))) {
    throw new UsageError(`${name} must be ${integer ? 'an integer' : 'a number'} of at least ${min}, not ${JSON.stringify(raw)}`);
  }
  return n;
}

/** A choice option: one of `choices`; a usage error otherwise. */
export function choiceOption<T extends string>(name: string, raw: string | undefined, choices: readonly T[], fallback: T): T {
  if (raw === undefined) return fallback;
  if (!(choices as readonly string[]).includes(raw))
    throw new UsageError(`${name} must be one of ${choices.join(', ')}, not ${JSON.stringify(raw)}`);
  return raw as T;
}
