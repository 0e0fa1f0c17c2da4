/**
 * `hqctl drain|maint|ready|weight`: declare a server's administrative state or weight in the
 * instance's spec.servers. Never the runtime API directly: the agent applies the declaration
 * through it and re-asserts it after every reload, so it survives reloads and agent restarts.
 */
import { HAPROXY_NAME, type HAProxyInstance } from '@haproxyhq/schemas';
import { isDeepStrictEqual } from 'node:util';
import { str } from '../args.ts';
import type { HQClient } from '../client.ts';
import { SELECTOR_FLAG, type Command, type Context } from '../command.ts';
import { ApiError, CliError, formatError, isConflict } from '../errors.ts';
import { INSTANCES, parseResourceArgs, refName } from '../resources.ts';

const CONFLICT_RETRIES = 5;
const NAME = new RegExp(HAPROXY_NAME);

type ServerState = NonNullable<NonNullable<HAProxyInstance['spec']>['servers']>[number];
type Change = { state: 'ready' | 'drain' | 'maint' } | { weight: number };

/** Parse `BACKEND/SERVER`, with the characters HAProxy (and the schema) allows. */
export function parseServer(text: string): { backend: string; server: string } {
  const slash = text.indexOf('/');
  const backend = text.slice(0, slash);
  const server = text.slice(slash + 1);
  if (slash <= 0 || server === '' || server.includes('/') || !NAME.test(backend) || !NAME.test(server)) {
    throw new CliError(`"${text}" is not BACKEND/SERVER: both names may contain letters, digits, '-', '_', '.' and ':'`);
  }
  return { backend, server };
}

/** The instance's servers with `change` applied to each target: the entry updated, or appended. */
export function withChange(servers: ServerState[], targets: { backend: string; server: string }[], change: Change): ServerState[] {
  const out = servers.map((s) => ({ ...s }));
  for (const t of targets) {
    const entry = out.find((s) => s.backend === t.backend && s.server === t.server);
    if (entry) Object.assign(entry, change);
    else out.push({ backend: t.backend, server: t.server, ...change });
  }
  return out;
}

function describeChange(change: Change): string {
  return 'state' in change ? `set to ${change.state}` : `weight set to ${change.weight}`;
}

async function applyTo(client: HQClient, ns: string, name: string, targets: { backend: string; server: string }[], change: Change): Promise<boolean> {
  let instance = await client.get(INSTANCES, ns, name);
  for (let attempt = 0; ; attempt++) {
    const current = instance.spec?.servers ?? [];
    const servers = withChange(current, targets, change);
    if (isDeepStrictEqual(servers, current)) return false;
    try {
      // PUT with the resourceVersion just read: a concurrent change to the list is a 409, not lost.
      await client.replace(INSTANCES, ns, name, { ...instance, status: undefined, spec: { ...instance.spec, servers } });
      return true;
    } catch (err) {
      if (!isConflict(err) || attempt >= CONFLICT_RETRIES) throw err;
      instance = await client.get(INSTANCES, ns, name);
    }
  }
}

function serverCommand(name: 'drain' | 'maint' | 'ready' | 'weight', summary: string): Command {
  const isWeight = name === 'weight';
  const args = isWeight ? 'BACKEND/SERVER WEIGHT' : 'BACKEND/SERVER...';
  return {
    name,
    summary,
    help: `${summary}.

Writes the instance's spec.servers (updating the entry for the server, or adding one); the
agent applies it through HAProxy's runtime API and holds it across reloads.

Usage:
  hqctl ${name} INSTANCE ${args}
  hqctl ${name} -l SELECTOR ${args}      # every instance the selector matches

Examples:
  hqctl ${name} edge-1 ${isWeight ? 'app/app1 50' : 'app/app1'}
  hqctl ${name} -l role=edge ${isWeight ? 'app/app1 0' : 'app/app1'}`,
    flags: [SELECTOR_FLAG],
    async run(ctx: Context) {
      const selector = str(ctx.flags, 'selector');
      const pos = [...ctx.positionals];
      let change: Change;
      if (isWeight) {
        const w = pos.pop();
        if (w === undefined || !/^\d+$/.test(w) || Number(w) > 256) {
          throw new CliError(`weight must be a whole number from 0 to 256${w === undefined ? '' : `, not "${w}"`}: hqctl weight INSTANCE BACKEND/SERVER WEIGHT`);
        }
        change = { weight: Number(w) };
      } else {
        change = { state: name };
      }
      const instanceArg = selector === undefined ? pos.shift() : undefined;
      if (selector === undefined && instanceArg === undefined) throw new CliError(`hqctl ${name} needs an instance (or -l SELECTOR) and ${args}`);
      if (pos.length === 0) throw new CliError(`hqctl ${name} needs ${args}`);
      if (isWeight && pos.length > 1) throw new CliError(`hqctl weight sets one server at a time: hqctl weight INSTANCE BACKEND/SERVER WEIGHT`);
      const targets = pos.map(parseServer);
      const client = ctx.client();
      const ns = ctx.namespace();
      let names: string[];
      if (instanceArg !== undefined) {
        const { refs } = parseResourceArgs(instanceArg.includes('/') ? [instanceArg] : ['haproxyinstance', instanceArg]);
        if (refs[0]!.resource !== INSTANCES) throw new CliError(`hqctl ${name} acts on haproxyinstances, not ${refs[0]!.resource.plural}`);
        names = [refs[0]!.name];
      } else {
        names = (await client.list(INSTANCES, { namespace: ns, labelSelector: selector })).items.map((i) => i.metadata.name ?? '');
        if (names.length === 0) throw new CliError(`no haproxyinstances in namespace "${ns}" match the selector "${selector}": nothing changed`);
      }
      let code = 0;
      const what = targets.map((t) => `${t.backend}/${t.server}`).join(', ');
      for (const n of names) {
        try {
          const changed = await applyTo(client, ns, n, targets, change);
          ctx.out(`${refName(INSTANCES, n)} ${what} ${changed ? describeChange(change) : 'unchanged'}\n`);
        } catch (err) {
          if (!(err instanceof ApiError)) throw err;
          ctx.err(formatError(err) + '\n');
          code = 1;
        }
      }
      return code;
    },
  };
}

export const drainCommand = serverCommand('drain', 'Drain a server: no new sessions, existing ones finish');
export const maintCommand = serverCommand('maint', 'Put a server in maintenance: no traffic at all');
export const readyCommand = serverCommand('ready', 'Return a server to service');
export const weightCommand = serverCommand('weight', 'Set a server weight (0-256)');
