/** What every command gets: its parsed flags, output streams, and a client made on first use. */
import type { FlagSpec, FlagValues } from './args.ts';
import { bool } from './args.ts';
import type { HQClient } from './client.ts';
import { ApiError, formatError, isNotFound } from './errors.ts';

export interface Context {
  positionals: string[];
  flags: FlagValues;
  out(text: string): void;
  err(text: string): void;
  /** The API client, created on first use (help and completion never need one). */
  client(): HQClient;
  /** The namespace to act in: -n, else HQ_NAMESPACE, else the kubeconfig context's, else "default". */
  namespace(): string;
  /** True when the namespace came from -n or HQ_NAMESPACE (a manifest's own namespace must then match). */
  explicitNamespace: boolean;
  /** Standard input, read whole (for -f -). */
  stdin(): string;
  /** Resolves when the user interrupts (Ctrl-C, SIGTERM): long-running watches end cleanly. */
  interrupted: Promise<void>;
}

export interface Command {
  name: string;
  /** One line for `hqctl --help`. */
  summary: string;
  /** Usage lines and description for `hqctl VERB --help`. */
  help: string;
  flags: FlagSpec[];
  /** Exit status when the command fails (diff: 2, so that 1 can mean "there are differences"). */
  errorExitCode?: number;
  /** Returns the exit code. */
  run(ctx: Context): Promise<number>;
}

export const OUTPUT_FLAG: FlagSpec = {
  name: 'output',
  short: 'o',
  type: 'string',
  help: 'FORMAT: yaml, json, wide, name, jsonpath=TEMPLATE (instances: rendered)',
};
export const SELECTOR_FLAG: FlagSpec = { name: 'selector', short: 'l', type: 'string', help: 'label SELECTOR, e.g. -l role=edge,env!=dev' };
export const ALL_NAMESPACES_FLAG: FlagSpec = { name: 'all-namespaces', short: 'A', type: 'bool', help: 'list across all namespaces' };
export const FILENAME_FLAG: FlagSpec = {
  name: 'filename',
  short: 'f',
  type: 'strings',
  help: 'FILE, directory of *.yaml/*.yml/*.json, or - for standard input (repeatable)',
};

/**
 * Delete each target as kubectl does: "<what> deleted" per success, the server's error per
 * failure (and exit 1 at the end), and a missing one skipped with --ignore-not-found.
 */
export async function deleteEach<T>(ctx: Context, targets: readonly T[], del: (t: T) => Promise<unknown>, deleted: (t: T) => string): Promise<number> {
  const ignoreMissing = bool(ctx.flags, 'ignore-not-found');
  let code = 0;
  for (const t of targets) {
    try {
      await del(t);
      ctx.out(`${deleted(t)} deleted\n`);
    } catch (err) {
      if (ignoreMissing && isNotFound(err)) continue;
      if (!(err instanceof ApiError)) throw err;
      ctx.err(formatError(err) + '\n');
      code = 1;
    }
  }
  return code;
}
