/**
 * The errors mmstats throws: one class with a stable `code` per failure, so that
 * callers can branch on `err.code` and tools can print a clear line.
 */

/** Stable error codes. */
export type MmstatsErrorCode =
  /** The file is not an mmstats file (wrong magic or version byte). */
  | 'ERR_MMSTATS_NOT_STATS'
  /** The file was written by a newer major format version. */
  | 'ERR_MMSTATS_VERSION'
  /** A structure in the file is out of bounds or inconsistent. */
  | 'ERR_MMSTATS_MALFORMED'
  /** The file is still being created by its writer (its ready mark is not set). */
  | 'ERR_MMSTATS_INITIALISING'
  /** The file was never finished: its writer died while creating it (no lock held, pid gone). `mmstats clean` removes it. */
  | 'ERR_MMSTATS_ABANDONED'
  /** The file shrank or vanished while it was being read. */
  | 'ERR_MMSTATS_TRUNCATED'
  /** A stats directory or file failed a safety check (symlink, owner, mode). */
  | 'ERR_MMSTATS_UNSAFE_PATH'
  /** Another live writer owns the file. */
  | 'ERR_MMSTATS_IN_USE'
  /** A label is invalid or used twice. */
  | 'ERR_MMSTATS_LABEL'
  /** A field was used after its stats were closed. */
  | 'ERR_MMSTATS_CLOSED'
  /** A field or option is not supported (e.g. a v2-only type in a v1 file). */
  | 'ERR_MMSTATS_UNSUPPORTED'
  /** The file could not be created, grown or mapped (no space, no permission...). */
  | 'ERR_MMSTATS_IO'
  /** A seqlocked value kept changing while it was read; try again. */
  | 'ERR_MMSTATS_BUSY'
  /** A file holds more than a reader was allowed to decode (its `ReadLimits`); it was not loaded. */
  | 'ERR_MMSTATS_LIMIT';

/** The one error class mmstats throws on purpose. */
export class MmstatsError extends Error {
  override name = 'MmstatsError';
  /** Stable code: branch on this, not on the message. */
  readonly code: MmstatsErrorCode;
  /** The file or directory concerned, when there is one. */
  readonly path: string | undefined;

  constructor(code: MmstatsErrorCode, message: string, options: { path?: string; cause?: unknown } = {}) {
    super(options.path === undefined ? message : `${options.path}: ${message}`, { cause: options.cause });
    this.code = code;
    this.path = options.path;
  }
}

/** True if `err` is an MmstatsError (optionally of the given code). */
export function isMmstatsError(err: unknown, code?: MmstatsErrorCode): err is MmstatsError {
  return err instanceof MmstatsError && (code === undefined || err.code === code);
}
