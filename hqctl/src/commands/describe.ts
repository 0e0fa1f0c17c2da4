/**
 * `hqctl describe`: one page per object for a person at a terminal. Instances: spec, conditions,
 * what runs (revision, hash), the last failed apply with HAProxy's own line, HAProxy and stats
 * summaries, events. Configs: selector, strategy, rollout counts, conditions, revisions, events.
 */
import { CONFIG_LABEL, type Condition, type ConfigRevision, type HAProxyConfig, type HAProxyInstance, type HQEvent } from '@haproxyhq/schemas';
import { bool, str } from '../args.ts';
import type { HQClient } from '../client.ts';
import { ALL_NAMESPACES_FLAG, SELECTOR_FLAG, type Command } from '../command.ts';
import { ApiError, CliError, formatError } from '../errors.ts';
import { age, fields, indentedTable, toYaml } from '../printers.ts';
import { CONFIGS, EVENTS, INSTANCES, REVISIONS, parseResourceArgs, type AnyObject, type Resource } from '../resources.ts';

const none = '<none>';

function mapLines(m: Record<string, string> | undefined): string {
  const e = Object.entries(m ?? {});
  return e.length === 0 ? none : e.map(([k, v]) => `${k}=${v}`).join('\n');
}

function when(ts: string | undefined, now: number): string | undefined {
  return ts ? `${ts} (${age(ts, now)} ago)` : undefined;
}

function header(r: Resource, obj: AnyObject, now: number): string {
  const m = obj.metadata;
  return fields([
    ['Name', m.name],
    ['Namespace', m.namespace],
    ['Labels', mapLines(m.labels)],
    ['Annotations', mapLines(m.annotations)],
    ['API Version', obj.apiVersion ?? 'haproxyhq.io/v1alpha1'],
    ['Kind', r.kind],
    ['Created', when(m.creationTimestamp, now)],
    ['Generation', m.generation === undefined ? undefined : String(m.generation)],
  ]);
}

function conditionsSection(conditions: Condition[] | undefined, now: number): string {
  if (!conditions?.length) return `Conditions:  ${none}\n`;
  const rows = conditions.map((c) => [c.type, c.status, c.reason ?? '', c.lastTransitionTime ? age(c.lastTransitionTime, now) : '', (c.message ?? '').split('\n')[0]!]);
  return 'Conditions:\n' + indentedTable(['Type', 'Status', 'Reason', 'Age', 'Message'], rows);
}

function eventsSection(events: HQEvent[], now: number): string {
  if (events.length === 0) return `Events:  ${none}\n`;
  const rows = events.map((e) => {
    const last = e.lastTimestamp ?? e.firstTimestamp ?? e.metadata.creationTimestamp;
    const count = e.count && e.count > 1 ? ` (x${e.count} over ${age(e.firstTimestamp, now)})` : '';
    return [e.type, e.reason, `${age(last, now)}${count}`, e.source?.component ?? '', (e.message ?? '').split('\n')[0]!];
  });
  return 'Events:\n' + indentedTable(['Type', 'Reason', 'Age', 'From', 'Message'], rows);
}

/** Events about one object, oldest first (the server has no field selector on involvedObject). */
async function eventsFor(client: HQClient, namespace: string, kind: string, name: string): Promise<HQEvent[]> {
  const list = await client.list(EVENTS, { namespace });
  const ts = (e: HQEvent) => Date.parse(e.lastTimestamp ?? e.firstTimestamp ?? e.metadata.creationTimestamp ?? '') || 0;
  return list.items.filter((e) => e.involvedObject.kind === kind && e.involvedObject.name === name).sort((a, b) => ts(a) - ts(b));
}

type StatRow = NonNullable<NonNullable<NonNullable<HAProxyInstance['status']>['stats']>['servers']>[number];

/** `3 (UP 2, DOWN 1)`: how many rows and how many in each status. */
function byStatus(rows: StatRow[] | undefined): string | undefined {
  if (!rows) return undefined;
  const counts = new Map<string, number>();
  for (const r of rows) counts.set(r.status ?? 'unknown', (counts.get(r.status ?? 'unknown') ?? 0) + 1);
  const parts = [...counts].sort((a, b) => b[1] - a[1]).map(([s, n]) => `${s} ${n}`);
  return `${rows.length}${parts.length ? ` (${parts.join(', ')})` : ''}`;
}

/** The rows with the most current sessions (then highest rate), at most `n`. */
function busiest(rows: StatRow[], n: number): StatRow[] {
  const load = (r: StatRow) => [r.currentSessions ?? 0, r.requestRate ?? r.sessionRate ?? 0, r.totalSessions ?? 0] as const;
  return [...rows]
    .sort((a, b) => {
      const [x, y] = [load(a), load(b)];
      return y[0] - x[0] || y[1] - x[1] || y[2] - x[2];
    })
    .slice(0, n);
}

function describeInstance(i: HAProxyInstance, events: HQEvent[], now: number): string {
  let out = header(INSTANCES, i, now);
  const spec = i.spec ?? {};
  out += 'Spec:\n';
  out += fields(
    [
      ['Config Revision', spec.configRevision ?? `${none} (not assigned yet)`],
      ['Paused', String(spec.paused ?? false)],
      ['Values', spec.values && Object.keys(spec.values).length ? mapLines(spec.values) : undefined],
      ['Servers', spec.servers?.length ? '' : none],
    ],
    2,
  );
  if (spec.servers?.length) {
    out += indentedTable(
      ['Backend', 'Server', 'State', 'Weight'],
      spec.servers.map((s) => [s.backend, s.server, s.state ?? '-', s.weight === undefined ? '-' : String(s.weight)]),
      4,
    );
  }
  const st = i.status ?? {};
  out += 'Status:\n';
  const hp = st.haproxy;
  const haproxy = hp
    ? [
        hp.version ? `HAProxy ${hp.version}` : 'HAProxy',
        hp.pid !== undefined ? `master pid ${hp.pid}` : undefined,
        hp.workerPid !== undefined ? `worker pid ${hp.workerPid}` : undefined,
        hp.uptimeSeconds !== undefined ? `up ${age(new Date(now - hp.uptimeSeconds * 1000).toISOString(), now)}` : undefined,
        hp.reloads !== undefined ? `${hp.reloads} reloads (${hp.failedReloads ?? 0} failed)` : undefined,
        hp.currentConnections !== undefined ? `${hp.currentConnections} connections` : undefined,
        hp.sessionRate !== undefined ? `${hp.sessionRate} sessions/s` : undefined,
      ]
        .filter((x) => x !== undefined)
        .join(', ')
    : undefined;
  out += fields(
    [
      ['Applied Revision', st.appliedRevision ?? none],
      ['Applied Hash', st.appliedHash],
      ['Observed Generation', st.observedGeneration === undefined ? undefined : String(st.observedGeneration)],
      ['Heartbeat', when(st.heartbeatTime, now) ?? 'never'],
      ['Agent', st.agent ? [st.agent.version, st.agent.hostname ? `on ${st.agent.hostname}` : undefined].filter(Boolean).join(' ') : undefined],
      ['HAProxy', haproxy],
    ],
    2,
  );
  out += conditionsSection(st.conditions, now);
  const e = st.lastApplyError;
  if (e) {
    out += 'Last Apply Error:\n';
    out += fields(
      [
        ['Revision', e.revision],
        ['Where', e.file || e.line !== undefined ? `${e.file ?? 'haproxy.cfg'}${e.line !== undefined ? `:${e.line}` : ''}` : undefined],
        ['Time', when(e.time, now)],
        ['Message', e.message],
      ],
      2,
    );
  }
  const stats = st.stats;
  if (stats) {
    out += 'Stats:\n';
    out += fields(
      [
        ['Frontends', byStatus(stats.frontends)],
        ['Backends', byStatus(stats.backends)],
        ['Servers', byStatus(stats.servers)],
      ],
      2,
    );
    const top = busiest([...(stats.frontends ?? []), ...(stats.backends ?? []), ...(stats.servers ?? [])], 5).filter(
      (r) => (r.currentSessions ?? 0) > 0 || (r.totalSessions ?? 0) > 0,
    );
    if (top.length > 0) {
      out += '  Busiest:\n';
      out += indentedTable(
        ['Name', 'Status', 'Sessions', 'Rate', 'Total'],
        top.map((r) => [
          r.backend ? `${r.backend}/${r.name}` : r.name,
          r.status ?? '',
          String(r.currentSessions ?? 0),
          String(r.requestRate ?? r.sessionRate ?? 0),
          String(r.totalSessions ?? 0),
        ]),
        4,
      );
    }
  }
  return out + eventsSection(events, now);
}

function selectorText(c: HAProxyConfig): string {
  const sel = c.spec.instanceSelector;
  if (!sel) return `${none} (selects every instance in the namespace)`;
  const parts = [
    ...Object.entries(sel.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`),
    ...(sel.matchExpressions ?? []).map((e) =>
      e.operator === 'Exists' ? e.key : e.operator === 'DoesNotExist' ? `!${e.key}` : `${e.key} ${e.operator.toLowerCase()} (${(e.values ?? []).join(',')})`,
    ),
  ];
  return parts.length ? parts.join(',') : `${none} (selects every instance in the namespace)`;
}

function describeConfig(c: HAProxyConfig, revisions: ConfigRevision[], events: HQEvent[], now: number): string {
  let out = header(CONFIGS, c, now);
  const s = c.spec;
  const strategy = s.strategy
    ? [
        s.strategy.type,
        s.strategy.canary !== undefined ? `canary ${s.strategy.canary}` : undefined,
        s.strategy.maxUnavailable !== undefined ? `max unavailable ${s.strategy.maxUnavailable}` : undefined,
        s.strategy.healthDeadlineSeconds !== undefined ? `health deadline ${s.strategy.healthDeadlineSeconds}s` : undefined,
      ]
        .filter(Boolean)
        .join(', ')
    : 'AllAtOnce (default)';
  out += fields([
    ['Selector', selectorText(c)],
    ['Strategy', strategy],
    ['Paused', String(s.paused ?? false)],
    ['Template', String(s.template ?? false)],
    ['Config', `${s.config.split('\n').length - (s.config.endsWith('\n') ? 1 : 0)} lines, ${Buffer.byteLength(s.config)} bytes`],
    ['Files', s.files?.length ? s.files.map((f) => `${f.path}${f.kind ? ` (${f.kind})` : ''}`).join('\n') : none],
    ['History Limit', s.revisionHistoryLimit === undefined ? undefined : String(s.revisionHistoryLimit)],
  ]);
  const st = c.status ?? {};
  out += 'Rollout:\n';
  out += fields(
    [
      ['Observed Generation', st.observedGeneration === undefined ? none : String(st.observedGeneration)],
      ['Latest Revision', st.latestRevision ?? none],
      ['Instances', st.instances === undefined ? none : String(st.instances)],
      ['Updated', st.updated === undefined ? undefined : String(st.updated)],
      ['Ready', st.ready === undefined ? undefined : String(st.ready)],
      ['Failed', st.failed === undefined ? undefined : String(st.failed)],
      ['Paused Instances', st.pausedInstances === undefined ? undefined : String(st.pausedInstances)],
      ['Conflicts', st.conflicts?.length ? st.conflicts.map((x) => `${x.instance}: also selected by ${x.configs.filter((n) => n !== c.metadata.name).join(', ')}`).join('\n') : undefined],
    ],
    2,
  );
  out += conditionsSection(st.conditions, now);
  if (revisions.length === 0) out += `Revisions:  ${none}\n`;
  else {
    const latest = revisions[revisions.length - 1]!;
    out += 'Revisions:\n';
    out += indentedTable(
      ['Revision', 'Hash', 'Age', ''],
      revisions.map((r) => [String(r.spec.revision), shortHash(r.spec.contentHash), age(r.metadata.creationTimestamp, now), r === latest ? 'latest' : '']),
    );
  }
  return out + eventsSection(events, now);
}

/** `sha256:0123456789ab`: enough of a content hash to tell revisions apart. */
export function shortHash(hash: string): string {
  const [algo, hex] = hash.includes(':') ? hash.split(':', 2) : ['', hash];
  return `${algo ? algo + ':' : ''}${(hex ?? '').slice(0, 12)}`;
}

/** Revisions of one config, oldest first. */
export async function revisionsOf(client: HQClient, namespace: string, config: string): Promise<ConfigRevision[]> {
  const list = await client.list(REVISIONS, { namespace, labelSelector: `${CONFIG_LABEL}=${config}` });
  return list.items.filter((r) => r.spec.configName === config).sort((a, b) => a.spec.revision - b.spec.revision);
}

async function describeOne(client: HQClient, r: Resource, obj: AnyObject, now: number): Promise<string> {
  const ns = obj.metadata.namespace ?? client.namespace;
  const name = obj.metadata.name ?? '';
  const events = r === EVENTS ? [] : await eventsFor(client, ns, r.kind, name);
  if (r === INSTANCES) return describeInstance(await client.get(INSTANCES, ns, name), events, now);
  if (r === CONFIGS) return describeConfig(await client.get(CONFIGS, ns, name), await revisionsOf(client, ns, name), events, now);
  // Revisions, events, leases: the header, then the rest of the object as YAML.
  const rest: Record<string, unknown> = { ...obj };
  delete rest.metadata;
  delete rest.apiVersion;
  delete rest.kind;
  return header(r, obj, now) + toYaml(rest) + (r === EVENTS ? '' : eventsSection(events, now));
}

export const describeCommand: Command = {
  name: 'describe',
  summary: 'Show details of resources, with conditions and events',
  help: `Show details of one or many resources: spec, conditions, status summaries and events.

Usage:
  hqctl describe TYPE [NAME...] [flags]
  hqctl describe TYPE/NAME... [flags]

Examples:
  hqctl describe haproxyinstance edge-1
  hqctl describe hc/web
  hqctl describe hi -l role=edge`,
  flags: [SELECTOR_FLAG, ALL_NAMESPACES_FLAG],
  async run(ctx) {
    const { types, refs } = parseResourceArgs(ctx.positionals);
    if (types.length === 0 && refs.length === 0) throw new CliError('you must specify the type of resource to describe');
    const client = ctx.client();
    const now = Date.now();
    const pages: string[] = [];
    let code = 0;
    const all = bool(ctx.flags, 'all-namespaces');
    if (refs.length > 0) {
      for (const ref of refs) {
        try {
          const obj = await client.get(ref.resource, ctx.namespace(), ref.name);
          pages.push(await describeOne(client, ref.resource, obj, now));
        } catch (err) {
          if (!(err instanceof ApiError)) throw err;
          ctx.err(formatError(err) + '\n');
          code = 1;
        }
      }
    } else {
      for (const r of types) {
        const list = await client.list(r, { namespace: all ? undefined : ctx.namespace(), labelSelector: str(ctx.flags, 'selector') });
        for (const obj of list.items) pages.push(await describeOne(client, r, obj, now));
      }
      if (pages.length === 0) ctx.err(all ? 'No resources found\n' : `No resources found in ${ctx.namespace()} namespace.\n`);
    }
    ctx.out(pages.join('\n\n'));
    return code;
  },
};
