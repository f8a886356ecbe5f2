// The shape of a `mathrl` subcommand (lib/cli/commands/<name>.ts exports `command`).
import { parseArgs, ParseArgsConfig } from 'util';

export interface CliCommand {
  name: string;
  /** One line for `mathrl --help`. */
  summary: string;
  /** The options part of the usage line, e.g. '--data <file.jsonl> [--steps N]'. */
  usage: string;
  /** Returns the exit code (0 when omitted). Throwing prints the message and exits 1. */
  run(argv: string[]): Promise<number | void> | number | void;
}

/** node:util parseArgs with strict checking and a clear message for unknown or missing options. */
export function parseOptions<T extends NonNullable<ParseArgsConfig['options']>>(
  argv: string[],
  options: T,
  opts: { allowPositionals?: boolean } = {},
): ReturnType<typeof parseArgs<{ options: T; allowPositionals: boolean; strict: true; args: string[] }>> {
  return parseArgs({ args: argv, options, allowPositionals: opts.allowPositionals ?? false, strict: true });
}

/** Parses a numeric option, with the option name in the error. */
export function numberOption(name: string, value: string | undefined, def: number): number {
  if (value === undefined) return def;
  const n = Number(value);
  if (!Number.isFinite(n)) throw new Error(`--${name} must be a number, got '${value}'`);
  return n;
}
