#!/usr/bin/env node
/** hqctl: the kubectl-like CLI of HAProxyHQ. Parses the command line, runs a verb, sets the exit code. */
import { readFileSync } from 'node:fs';
import { GLOBAL_FLAGS, findVerb, parseArgs, str, type FlagSpec } from './args.ts';
import { createClient, type HQClient } from './client.ts';
import type { Command, Context } from './command.ts';
import { applyCommand } from './commands/apply.ts';
import { auditCommand } from './commands/audit.ts';
import { completionCommand } from './commands/completion.ts';
import { deleteCommand } from './commands/delete.ts';
import { describeCommand } from './commands/describe.ts';
import { diffCommand } from './commands/diff.ts';
import { getCommand } from './commands/get.ts';
import { rolloutCommand } from './commands/rollout.ts';
import { drainCommand, maintCommand, readyCommand, weightCommand } from './commands/servers.ts';
import { createCommand, revokeCommand } from './commands/tokens.ts';
import { groupsCommand, passwdCommand } from './commands/users.ts';
import { CliError, formatError } from './errors.ts';

export const HQCTL_VERSION = '0.1.0';

const versionCommand: Command = {
  name: 'version',
  summary: 'Print the client and server versions',
  help: `Print the hqctl version and the API server's.

Usage:
  hqctl version [--client]`,
  flags: [{ name: 'client', type: 'bool', help: 'print the client version only (no server needed)' }],
  async run(ctx) {
    ctx.out(`Client Version: v${HQCTL_VERSION}\n`);
    if (ctx.flags.client === true) return 0;
    ctx.out(`Server Version: ${await ctx.client().serverVersion()}\n`);
    return 0;
  },
};

export const COMMANDS: Command[] = [
  getCommand,
  describeCommand,
  applyCommand,
  createCommand,
  diffCommand,
  deleteCommand,
  revokeCommand,
  passwdCommand,
  groupsCommand,
  rolloutCommand,
  drainCommand,
  maintCommand,
  readyCommand,
  weightCommand,
  auditCommand,
  completionCommand(() => COMMANDS),
  versionCommand,
];

function flagLines(flags: FlagSpec[]): string {
  const rows = flags.map((f) => {
    const placeholder = f.type === 'bool' ? '' : `=${/\b([A-Z][A-Z_]+)\b/.exec(f.help)?.[1] ?? 'VALUE'}`;
    return [`${f.short ? `-${f.short}, ` : '    '}--${f.name}${placeholder}`, f.help + (f.type === 'strings' ? ' (repeatable)' : '')];
  });
  const width = Math.max(...rows.map(([l]) => l!.length));
  return rows.map(([l, h]) => `  ${l!.padEnd(width)}   ${h}\n`).join('');
}

function topHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return `hqctl controls a fleet of HAProxy instances through the HAProxyHQ API server.

Usage:
  hqctl VERB [TYPE] [NAME] [flags]

Verbs:
${COMMANDS.map((c) => `  ${c.name.padEnd(width)}   ${c.summary}`).join('\n')}

Types: haproxyinstances (hi, hpi), haproxyconfigs (hc, hpc), configrevisions (rev, hpcr),
events (ev), leases.

Global flags:
${flagLines(GLOBAL_FLAGS)}
The server, CA and token come from --kubeconfig, else HQ_KUBECONFIG, else KUBECONFIG, else
~/.kube/config: the server writes one to its data dir (.hq/kubeconfig for make run).
--server and --token (HQ_SERVER, HQ_TOKEN) override what the kubeconfig says.

Use "hqctl VERB --help" for more about a verb.
`;
}

function commandHelp(c: Command): string {
  return `${c.help}\n\n${c.flags.length ? `Flags:\n${flagLines(c.flags)}\n` : ''}Global flags:\n${flagLines(GLOBAL_FLAGS)}`;
}

export interface IO {
  out(text: string): void;
  err(text: string): void;
  stdin(): string;
  env: NodeJS.ProcessEnv;
  interrupted: Promise<void>;
}

/** Run hqctl with `argv` (without node and the script); returns the exit code. */
export async function main(argv: string[], io: IO): Promise<number> {
  const { verb, rest } = findVerb(argv);
  if (verb === undefined || verb === 'help') {
    const topic = verb === 'help' ? rest.find((a) => !a.startsWith('-')) : undefined;
    const c = topic ? COMMANDS.find((x) => x.name === topic) : undefined;
    if (topic && !c) {
      io.err(`error: unknown command "${topic}" for "hqctl"\nRun 'hqctl --help' for usage.\n`);
      return 1;
    }
    io.out(c ? commandHelp(c) : topHelp());
    if (verb === undefined && !rest.some((a) => a === '--help' || a === '-h')) return rest.length === 0 ? 0 : 1;
    return 0;
  }
  const cmd = COMMANDS.find((c) => c.name === verb);
  if (!cmd) {
    io.err(`error: unknown command "${verb}" for "hqctl"\nRun 'hqctl --help' for usage.\n`);
    return 1;
  }
  try {
    const { positionals, flags } = parseArgs(rest, [...GLOBAL_FLAGS, ...cmd.flags], verb);
    if (flags.help === true) {
      io.out(commandHelp(cmd));
      return 0;
    }
    const explicitNs = str(flags, 'namespace') ?? (io.env.HQ_NAMESPACE || undefined);
    let client: HQClient | undefined;
    const getClient = () =>
      (client ??= createClient({
        kubeconfig: str(flags, 'kubeconfig') ?? (io.env.HQ_KUBECONFIG || undefined),
        server: str(flags, 'server') ?? (io.env.HQ_SERVER || undefined),
        token: str(flags, 'token') ?? (io.env.HQ_TOKEN || undefined),
        certificateAuthority: str(flags, 'certificate-authority'),
        insecureSkipTlsVerify: flags['insecure-skip-tls-verify'] === true ? true : undefined,
        namespace: explicitNs,
      }));
    const ctx: Context = {
      positionals,
      flags,
      out: io.out,
      err: io.err,
      client: getClient,
      namespace: () => explicitNs ?? getClient().namespace,
      explicitNamespace: explicitNs !== undefined,
      stdin: io.stdin,
      interrupted: io.interrupted,
    };
    return await cmd.run(ctx);
  } catch (err) {
    io.err(formatError(err) + '\n');
    if (cmd.errorExitCode !== undefined) return cmd.errorExitCode;
    return err instanceof CliError ? err.exitCode : 1;
  }
}

if (import.meta.main) {
  let interrupt: () => void = () => {};
  const interrupted = new Promise<void>((resolve) => (interrupt = resolve));
  const onSignal = (signal: NodeJS.Signals) => {
    interrupt();
    // Commands that watch stop on `interrupted`; anything else ends here, as an interrupted CLI should.
    setTimeout(() => process.exit(signal === 'SIGINT' ? 130 : 143), 1000).unref();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // Output is a pipe more often than not (| head, | grep -q): a closed pipe ends hqctl quietly.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
    throw err;
  });
  const code = await main(process.argv.slice(2), {
    out: (t) => void process.stdout.write(t),
    err: (t) => void process.stderr.write(t),
    stdin: () => readFileSync(0, 'utf8'),
    env: process.env,
    interrupted,
  });
  process.exit(code);
}
