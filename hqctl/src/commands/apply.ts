/**
 * `hqctl apply -f`: all or nothing, as far as the API allows. Every document is parsed and checked
 * first; then every object is planned against the live one and validated by the server with a
 * dry run; only when all of that passed is anything written. Writes carry the resourceVersion
 * they were planned from: a concurrent change is a 409, and apply plans again from a fresh read.
 */
import { str, strs } from '../args.ts';
import type { HQClient } from '../client.ts';
import { FILENAME_FLAG, type Command, type Context } from '../command.ts';
import { ApiError, CliError, MultiError, isConflict, isNotFound } from '../errors.ts';
import { readManifests, type Manifest } from '../manifests.ts';
import { forCreate, forUpdate, sameContent } from '../merge.ts';
import { APPLICABLE_KINDS, refName, type AnyObject } from '../resources.ts';

/** How many times apply re-reads and retries an object whose write met a conflict. */
const CONFLICT_RETRIES = 5;

export type Plan =
  | { action: 'create'; manifest: Manifest; namespace: string; body: Record<string, unknown>; result: AnyObject }
  | { action: 'update'; manifest: Manifest; namespace: string; body: Record<string, unknown>; live: AnyObject; result: AnyObject }
  | { action: 'unchanged'; manifest: Manifest; namespace: string; live: AnyObject };

/** Wrap a server error the way kubectl does, naming the file it came from. */
function inFile(err: unknown, verb: 'creating' | 'updating' | 'retrieving', m: Manifest): unknown {
  if (!(err instanceof ApiError)) return err;
  const what = verb === 'retrieving' ? `error when retrieving current configuration of ${refName(m.resource, m.name)} from ${m.source}` : `error when ${verb} "${m.source}"`;
  return new ApiError(err.code, err.reason, `${what}: ${err.message}`);
}

const hasOwnResourceVersion = (m: Manifest): boolean => {
  const meta = m.object.metadata;
  return typeof meta === 'object' && meta !== null && 'resourceVersion' in meta && typeof meta.resourceVersion === 'string' && meta.resourceVersion !== '';
};

/** Read the live object and decide what apply would do; the server checks the result with a dry run. */
export async function plan(client: HQClient, m: Manifest, namespace: string): Promise<Plan> {
  let live: AnyObject | undefined;
  try {
    live = await client.get(m.resource, namespace, m.name);
  } catch (err) {
    if (!isNotFound(err)) throw inFile(err, 'retrieving', m);
  }
  if (!live) {
    const body = forCreate(m.object, namespace);
    try {
      return { action: 'create', manifest: m, namespace, body, result: await client.create(m.resource, namespace, body, true) };
    } catch (err) {
      throw inFile(err, 'creating', m);
    }
  }
  const body = forUpdate({ ...live }, m.object);
  if (sameContent(body, { ...live }) && !hasOwnResourceVersion(m)) return { action: 'unchanged', manifest: m, namespace, live };
  let result: AnyObject;
  try {
    result = await client.replace(m.resource, namespace, m.name, body, true);
  } catch (err) {
    throw inFile(err, 'updating', m);
  }
  // The server's own normalisation decides: equal after it means nothing to write.
  if (sameContent({ ...result }, { ...live })) return { action: 'unchanged', manifest: m, namespace, live };
  return { action: 'update', manifest: m, namespace, body, live, result };
}

/** Plan every manifest; any failure (after re-planning conflicts) fails the whole batch. */
export async function planAll(client: HQClient, manifests: Manifest[], defaultNamespace: string): Promise<Plan[]> {
  const plans: Plan[] = [];
  const errors: Error[] = [];
  for (const m of manifests) {
    const ns = m.namespace ?? defaultNamespace;
    for (let attempt = 0; ; attempt++) {
      try {
        plans.push(await plan(client, m, ns));
        break;
      } catch (err) {
        if (isConflict(err) && !hasOwnResourceVersion(m) && attempt < CONFLICT_RETRIES) continue;
        errors.push(err instanceof Error ? err : new Error(String(err)));
        break;
      }
    }
  }
  if (errors.length === 1) throw errors[0];
  if (errors.length > 1) throw new MultiError(errors);
  return plans;
}

/** Carry out one plan; on a conflict (someone wrote in between), read again, plan again, retry. */
async function execute(client: HQClient, p: Plan): Promise<'created' | 'configured' | 'unchanged'> {
  let current = p;
  for (let attempt = 0; ; attempt++) {
    try {
      if (current.action === 'unchanged') return 'unchanged';
      if (current.action === 'create') {
        await client.create(current.manifest.resource, current.namespace, current.body);
        return 'created';
      }
      await client.replace(current.manifest.resource, current.namespace, current.manifest.name, current.body);
      return 'configured';
    } catch (err) {
      const raced = isConflict(err) || (err instanceof ApiError && err.code === 409 && current.action === 'create');
      if (!raced || hasOwnResourceVersion(current.manifest) || attempt >= CONFLICT_RETRIES) {
        throw inFile(err, current.action === 'create' ? 'creating' : 'updating', current.manifest);
      }
      current = await plan(client, current.manifest, current.namespace);
    }
  }
}

export const applyCommand: Command = {
  name: 'apply',
  summary: 'Create or update resources from files (all documents checked before any is applied)',
  help: `Create or update HAProxyConfigs and HAProxyInstances from YAML or JSON manifests.

Every document of every file is parsed and checked, and every object validated by the server
(a dry run), before anything is written: one bad document means nothing is applied. An object
whose spec, labels and annotations already match is left alone ("unchanged"). A manifest owns
the fields it sets: fields set by others (the rollout controller's spec.configRevision, the
spec.servers of hqctl drain) are kept, and a field a previous apply set and the manifest no
longer has is removed.

Usage:
  hqctl apply -f FILE|DIR|- [-f ...] [flags]

Examples:
  hqctl apply -f manifests/examples/
  hqctl apply -f web.yaml -f edge.yaml
  cat web.yaml | hqctl apply -f -
  hqctl apply -f web.yaml --dry-run=server`,
  flags: [
    FILENAME_FLAG,
    { name: 'dry-run', type: 'string', help: 'none|server: with server, validate and report, write nothing' },
    { name: 'output', short: 'o', type: 'string', help: 'name: print only kind.group/name of each object' },
  ],
  async run(ctx) {
    if (ctx.positionals.length > 0) throw new CliError(`unexpected arguments: ${ctx.positionals.join(' ')} (apply takes -f)`);
    const dryRun = dryRunOf(ctx);
    const output = str(ctx.flags, 'output');
    if (output !== undefined && output !== 'name') throw new CliError(`apply supports -o name only, not "${output}"`);
    const namespace = ctx.namespace();
    const manifests = readManifests(strs(ctx.flags, 'filename'), {
      verb: 'apply',
      kinds: APPLICABLE_KINDS,
      stdin: ctx.stdin,
      namespace,
      explicitNamespace: ctx.explicitNamespace,
    });
    const client = ctx.client();
    const plans = await planAll(client, manifests, namespace);
    const say = (p: Plan, what: string) =>
      ctx.out(output === 'name' ? `${refName(p.manifest.resource, p.manifest.name)}\n` : `${refName(p.manifest.resource, p.manifest.name)} ${what}${dryRun ? ' (server dry run)' : ''}\n`);
    if (dryRun) {
      for (const p of plans) say(p, p.action === 'create' ? 'created' : p.action === 'update' ? 'configured' : 'unchanged');
      return 0;
    }
    for (const p of plans) say(p, await execute(client, p));
    return 0;
  },
};

export function dryRunOf(ctx: Context): boolean {
  const d = str(ctx.flags, 'dry-run');
  if (d === undefined || d === 'none') return false;
  if (d === 'server') return true;
  if (d === 'client') throw new CliError('--dry-run=client is not supported: use --dry-run=server (the server validates without writing)');
  throw new CliError(`invalid --dry-run value "${d}": must be none or server`);
}

