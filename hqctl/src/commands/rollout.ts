/**
 * `hqctl rollout status|history|undo|pause|resume` for HAProxyConfigs, after kubectl's rollout
 * commands for Deployments. The rollout controller does the rolling; these read its status,
 * list the ConfigRevisions the server recorded, and write the config's spec.
 */
import { createHash } from 'node:crypto';
import { contentHashInput, type ConfigRevision, type HAProxyConfig } from '@haproxyhq/schemas';
import { parseDuration, str } from '../args.ts';
import type { HQClient, RunningWatch } from '../client.ts';
import type { Command, Context } from '../command.ts';
import { ApiError, CliError, isConflict } from '../errors.ts';
import { columns, configText, ordered, toJson, toYaml } from '../printers.ts';
import { CONFIGS, INSTANCES, findResource, parseResourceArgs, refName } from '../resources.ts';
import { revisionsOf, shortHash } from './describe.ts';

const CONFLICT_RETRIES = 5;

/** The config a rollout subcommand names: `haproxyconfig/web`, `hc web`, or just `web`. */
function target(args: string[], sub: string): string {
  if (args.length === 0) throw new CliError(`required resource not specified: hqctl rollout ${sub} haproxyconfig/NAME`);
  // A bare word is the config's name (only configs roll out), unless it names a type.
  if (args.length === 1 && !args[0]!.includes('/')) {
    if (findResource(args[0]!)) throw new CliError(`required resource name not specified: hqctl rollout ${sub} ${args[0]} NAME`);
    return args[0]!;
  }
  const { refs } = parseResourceArgs(args);
  if (refs.length !== 1) throw new CliError(`rollout ${sub} takes exactly one haproxyconfig`);
  const ref = refs[0]!;
  if (ref.resource !== CONFIGS) throw new CliError(`rollout is supported for haproxyconfigs only, not ${ref.resource.plural}`);
  return ref.name;
}

const condition = (c: HAProxyConfig, type: string) => c.status?.conditions?.find((x) => x.type === type);

export interface RolloutState {
  /** Complete=True for the current generation. */
  done: boolean;
  /** Halted=True for the current generation: the reason and message. */
  halted?: string;
  /** The line to print while waiting (or the success line when done). */
  message: string;
}

/** Where a rollout stands, from the config's status alone (kubectl's DeploymentStatusViewer). */
export function rolloutState(c: HAProxyConfig): RolloutState {
  const name = c.metadata.name ?? '';
  const generation = c.metadata.generation ?? 0;
  const st = c.status ?? {};
  if (st.observedGeneration === undefined || st.observedGeneration < generation) {
    return { done: false, message: `Waiting for rollout to finish: the controller has not seen generation ${generation} yet...` };
  }
  const halted = condition(c, 'Halted');
  if (halted?.status === 'True') {
    return { done: false, halted: `${halted.reason ?? 'Halted'}: ${halted.message ?? ''}`.trimEnd(), message: '' };
  }
  const complete = condition(c, 'Complete');
  if (complete?.status === 'True') return { done: true, message: `haproxyconfig "${name}" successfully rolled out` };
  const instances = st.instances ?? 0;
  const updated = st.updated ?? 0;
  const ready = st.ready ?? 0;
  const failed = st.failed ? ` (${st.failed} failed)` : '';
  const conflict = condition(c, 'Conflict')?.status === 'True' ? `; ${st.conflicts?.length ?? 'some'} instance(s) also selected by another config are left alone` : '';
  if (c.spec.paused) {
    return { done: false, message: `Waiting for rollout to finish: rollout is paused with ${updated} of ${instances} instances updated (hqctl rollout resume haproxyconfig/${name})${conflict}...` };
  }
  if (updated < instances) return { done: false, message: `Waiting for rollout to finish: ${updated} out of ${instances} new instances have been updated${failed}${conflict}...` };
  if (ready < updated) return { done: false, message: `Waiting for rollout to finish: ${ready} of ${updated} updated instances are ready${failed}${conflict}...` };
  return { done: false, message: `Waiting for rollout to finish: ${ready} of ${instances} instances ready, waiting for the Complete condition${conflict}...` };
}

async function status(ctx: Context, name: string): Promise<number> {
  const timeoutMs = parseDuration(str(ctx.flags, 'timeout') ?? '0', 'timeout');
  const watch = ctx.flags.watch !== false;
  const client = ctx.client();
  const ns = ctx.namespace();
  let last = '';
  /** Print the state; returns an exit code when the rollout has ended (or when not watching). */
  const report = (c: HAProxyConfig): number | undefined => {
    const s = rolloutState(c);
    if (s.halted !== undefined) throw new CliError(`rollout of haproxyconfig "${name}" halted: ${s.halted}`);
    if (s.message !== last) ctx.out(s.message + '\n');
    last = s.message;
    if (s.done) return 0;
    return watch ? undefined : 0;
  };
  const first = await client.get(CONFIGS, ns, name);
  const early = report(first);
  if (early !== undefined) return early;

  return new Promise<number>((resolve, reject) => {
    let w: RunningWatch | undefined;
    let finished = false;
    const finish = (err: unknown, code = 1) => {
      if (finished) return;
      finished = true;
      w?.stop();
      if (timer) clearTimeout(timer);
      if (err) reject(err);
      else resolve(code);
    };
    const timer = timeoutMs > 0 ? setTimeout(() => finish(new CliError('timed out waiting for the condition')), timeoutMs) : undefined;
    void ctx.interrupted.then(() => finish(new CliError('interrupted')));
    // Level-driven: each event's object is the whole state; a 410 means read again and re-watch.
    const watchFrom = (rv: string) => {
      w = client.watch(CONFIGS, { namespace: ns, fieldSelector: `metadata.name=${name}`, resourceVersion: rv }, (type, c) => {
        if (type === 'DELETED') return finish(new CliError(`haproxyconfig "${name}" was deleted`));
        try {
          const code = report(c);
          if (code !== undefined) finish(undefined, code);
        } catch (err) {
          finish(err);
        }
      });
      w.done.catch(async (err: unknown) => {
        if (finished) return;
        if (!(err instanceof ApiError && err.code === 410)) return finish(err);
        try {
          const fresh = await client.get(CONFIGS, ns, name);
          const code = report(fresh);
          if (code !== undefined) return finish(undefined, code);
          watchFrom(fresh.metadata.resourceVersion ?? '0');
        } catch (e) {
          finish(e);
        }
      });
    };
    watchFrom(first.metadata.resourceVersion ?? '0');
  });
}

async function history(ctx: Context, name: string): Promise<number> {
  const client = ctx.client();
  const ns = ctx.namespace();
  const config = await client.get(CONFIGS, ns, name);
  const revisions = await revisionsOf(client, ns, name);
  const wanted = str(ctx.flags, 'revision');
  const output = str(ctx.flags, 'output');
  if (wanted !== undefined && wanted !== '0') {
    const n = revisionNumber(wanted, 'revision');
    const rev = revisions.find((r) => r.spec.revision === n);
    if (!rev) throw new CliError(`unable to find the specified revision ${n} of haproxyconfig "${name}" (history: ${revisions.map((r) => r.spec.revision).join(', ') || 'none'})`);
    if (output === 'yaml') ctx.out(toYaml(ordered(rev, 'haproxyhq.io/v1alpha1', 'ConfigRevision')));
    else if (output === 'json') ctx.out(toJson(ordered(rev, 'haproxyhq.io/v1alpha1', 'ConfigRevision')));
    else if (output === undefined) ctx.out(configText(rev.spec.config.config, rev.spec.config.files));
    else throw new CliError(`rollout history --revision supports -o yaml or -o json, not "${output}"`);
    return 0;
  }
  if (revisions.length === 0) {
    ctx.err(`No rollout history found for haproxyconfig "${name}".\n`);
    return 0;
  }
  // Which instances run each revision: the history an operator needs before an undo.
  const running = new Map<string, number>();
  for (const i of (await client.list(INSTANCES, { namespace: ns })).items) {
    const applied = i.status?.appliedRevision;
    if (applied) running.set(applied, (running.get(applied) ?? 0) + 1);
  }
  const latest = config.status?.latestRevision ?? revisions[revisions.length - 1]!.metadata.name;
  ctx.out(`${refName(CONFIGS, name)}\n`);
  ctx.out(
    columns([
      ['REVISION', 'HASH', 'CREATED', 'RUNNING', 'LATEST'],
      ...revisions.map((r) => [
        String(r.spec.revision),
        shortHash(r.spec.contentHash),
        r.metadata.creationTimestamp ?? '<unknown>',
        String(running.get(r.metadata.name ?? '') ?? 0),
        r.metadata.name === latest ? '*' : '',
      ]),
    ]),
  );
  return 0;
}

function revisionNumber(text: string, flag: string): number {
  if (!/^\d+$/.test(text) || Number(text) < 1) throw new CliError(`invalid argument "${text}" for "--${flag}" flag: expected a revision number (1 or more)`);
  return Number(text);
}

const hashOf = (spec: HAProxyConfig['spec']) => `sha256:${createHash('sha256').update(contentHashInput(spec)).digest('hex')}`;

/** The revision undo goes back to: --to-revision N, else the newest older one whose content differs. */
export function pickRevision(config: HAProxyConfig, revisions: ConfigRevision[], to: number | undefined): ConfigRevision {
  const name = config.metadata.name ?? '';
  if (revisions.length === 0) throw new CliError(`no rollout history found for haproxyconfig "${name}"`);
  if (to !== undefined) {
    const rev = revisions.find((r) => r.spec.revision === to);
    if (!rev) throw new CliError(`unable to find the specified revision ${to} of haproxyconfig "${name}" (history: ${revisions.map((r) => r.spec.revision).join(', ')})`);
    return rev;
  }
  const generation = config.metadata.generation ?? Infinity;
  const current = revisions.find((r) => r.spec.revision === generation)?.spec.contentHash ?? hashOf(config.spec);
  const older = revisions.filter((r) => r.spec.revision < generation && r.spec.contentHash !== current);
  const pick = older[older.length - 1];
  if (!pick) throw new CliError(`no earlier revision of haproxyconfig "${name}" differs from the current one: nothing to undo`);
  return pick;
}

async function undo(ctx: Context, name: string): Promise<number> {
  const client = ctx.client();
  const ns = ctx.namespace();
  const toText = str(ctx.flags, 'to-revision');
  const to = toText === undefined || toText === '0' ? undefined : revisionNumber(toText, 'to-revision');
  let config = await client.get(CONFIGS, ns, name);
  const rev = pickRevision(config, await revisionsOf(client, ns, name), to);
  const snap = rev.spec.config;
  for (let attempt = 0; ; attempt++) {
    if (hashOf(config.spec) === rev.spec.contentHash && Boolean(config.spec.template) === Boolean(snap.template)) {
      ctx.out(`${refName(CONFIGS, name)} skipped rollback (current config already matches revision ${rev.spec.revision})\n`);
      return 0;
    }
    // Only what the config runs goes back; selector, strategy, paused and history limit stay.
    const spec: HAProxyConfig['spec'] = { ...config.spec, config: snap.config };
    delete spec.files;
    delete spec.template;
    if (snap.files !== undefined) spec.files = snap.files;
    if (snap.template !== undefined) spec.template = snap.template;
    try {
      await client.replace(CONFIGS, ns, name, { ...config, status: undefined, spec });
      break;
    } catch (err) {
      if (!isConflict(err) || attempt >= CONFLICT_RETRIES) throw err;
      config = await client.get(CONFIGS, ns, name);
    }
  }
  ctx.out(`${refName(CONFIGS, name)} rolled back to revision ${rev.spec.revision}\n`);
  return 0;
}

async function setPaused(ctx: Context, name: string, paused: boolean): Promise<number> {
  const client: HQClient = ctx.client();
  const ns = ctx.namespace();
  const config = await client.get(CONFIGS, ns, name);
  if (Boolean(config.spec.paused) === paused) {
    throw new CliError(`haproxyconfigs.haproxyhq.io "${name}" is ${paused ? 'already paused' : 'not paused'}`);
  }
  await client.mergePatch(CONFIGS, ns, name, { spec: { paused } });
  ctx.out(`${refName(CONFIGS, name)} ${paused ? 'paused' : 'resumed'}\n`);
  return 0;
}

const SUBCOMMANDS = ['status', 'history', 'undo', 'pause', 'resume'];

export const rolloutCommand: Command = {
  name: 'rollout',
  summary: 'Follow, list, undo, pause and resume the rollout of an HAProxyConfig',
  help: `Manage the rollout of an HAProxyConfig to the instances its selector matches.

Usage:
  hqctl rollout status  haproxyconfig/NAME [--watch=false] [--timeout=5m]
  hqctl rollout history haproxyconfig/NAME [--revision=N [-o yaml|json]]
  hqctl rollout undo    haproxyconfig/NAME [--to-revision=N]
  hqctl rollout pause   haproxyconfig/NAME
  hqctl rollout resume  haproxyconfig/NAME

status    waits until Complete=True for the config's current generation (exit 0), or until the
          rollout halts (exit 1, with the Halted condition's reason and message) or --timeout.
history   lists the ConfigRevisions the server recorded; --revision N prints that revision's
          config and files.
undo      puts the config text, files and template of an earlier revision back (default: the
          newest earlier one that differs); the controller rolls it out as a new revision.
pause     stops the controller moving instances to new revisions; resume lets it carry on.

Examples:
  hqctl apply -f web.yaml && hqctl rollout status hc/web --timeout=10m
  hqctl rollout history hc/web --revision 3 > web-3.cfg
  hqctl rollout undo hc/web --to-revision 3`,
  flags: [
    { name: 'watch', short: 'w', type: 'bool', default: true, help: 'status: keep watching until the rollout ends (--watch=false prints once)' },
    { name: 'timeout', type: 'string', help: 'status: give up after this DURATION, e.g. 5m (0, the default, waits forever)' },
    { name: 'revision', type: 'string', help: 'history: print revision N' },
    { name: 'to-revision', type: 'string', help: 'undo: the revision N to go back to (default: the previous different one)' },
    { name: 'output', short: 'o', type: 'string', help: 'history --revision: yaml or json' },
  ],
  async run(ctx) {
    const [sub, ...rest] = ctx.positionals;
    if (!sub) throw new CliError(`rollout needs a subcommand: ${SUBCOMMANDS.join(', ')}`);
    if (!SUBCOMMANDS.includes(sub)) throw new CliError(`unknown rollout subcommand "${sub}": expected ${SUBCOMMANDS.join(', ')}`);
    const name = target(rest, sub);
    switch (sub) {
      case 'status':
        return status(ctx, name);
      case 'history':
        return history(ctx, name);
      case 'undo':
        return undo(ctx, name);
      case 'pause':
        return setPaused(ctx, name, true);
      default:
        return setPaused(ctx, name, false);
    }
  },
};
