/**
 * `hqctl audit`: the server's audit log (who wrote what, and how it ended), the most recent
 * records oldest first so the newest end up at the bottom, as a log does; -w keeps printing new
 * ones. Filters go to the server; -o json|yaml print the AuditEvents themselves.
 */
import type { AuditEvent } from '@haproxyhq/schemas';
import { AUDIT_VERBS } from '@haproxyhq/schemas';
import { bool, parseDuration, str } from '../args.ts';
import type { AuditQuery, HQClient } from '../client.ts';
import { ALL_NAMESPACES_FLAG, OUTPUT_FLAG, type Command, type Context } from '../command.ts';
import { CliError } from '../errors.ts';
import { StreamingColumns, columns, listOf, toJson, toYaml } from '../printers.ts';
import { findResource } from '../resources.ts';

type Output = 'table' | 'wide' | 'json' | 'yaml';

const HEADER = ['TIME', 'USER', 'VERB', 'RESOURCE', 'NAMESPACE', 'NAME', 'RV', 'CODE', 'SOURCE'];
const WIDE_HEADER = [...HEADER, 'USER AGENT', 'REQUEST ID', 'ID'];
/** Records per request to the server. */
const PAGE = 1000;

/** One record as a table row: times in UTC to the second, resourceVersions before→after. */
export function auditRow(e: AuditEvent, wide: boolean): string[] {
  const rv = e.resourceVersionBefore === undefined && e.resourceVersionAfter === undefined
    ? '-'
    : `${e.resourceVersionBefore ?? '-'}→${e.resourceVersionAfter ?? '-'}`;
  const row = [
    e.time.replace(/\.\d+Z$/, 'Z'),
    e.user.name,
    e.verb + (e.dryRun ? ' (dry run)' : ''),
    (e.resource || e.path || '-') + (e.subresource ? `/${e.subresource}` : ''),
    e.namespace || '-',
    e.name || '-',
    rv,
    e.reason ? `${e.code} ${e.reason}` : String(e.code),
    e.sourceIP ?? '-',
  ];
  return wide ? [...row, e.userAgent ?? '-', e.requestID ?? '-', e.metadata.name] : row;
}

function outputOf(ctx: Context): Output {
  const o = str(ctx.flags, 'output') ?? 'table';
  if (o === 'table' || o === 'wide' || o === 'json' || o === 'yaml') return o;
  throw new CliError(`unable to match a printer suitable for the output format "${o}", allowed formats are: json, wide, yaml`);
}

/** The server's filters from the flags. */
export function auditQuery(ctx: Context, now = Date.now()): AuditQuery {
  if (ctx.positionals.length > 0) throw new CliError(`hqctl audit takes no arguments (got ${ctx.positionals.join(' ')}): filter with --user, --resource, --name, -n`);
  const all = bool(ctx.flags, 'all-namespaces');
  if (all && ctx.explicitNamespace) throw new CliError('--all-namespaces and --namespace cannot be used together');
  const resourceFlag = str(ctx.flags, 'resource');
  let resource: string | undefined;
  if (resourceFlag !== undefined) {
    // hi, config, ... as everywhere in hqctl; any other plural is sent as it is (auditevents of other kinds).
    resource = findResource(resourceFlag)?.plural ?? resourceFlag.toLowerCase();
  }
  const verb = str(ctx.flags, 'verb');
  if (verb !== undefined && !(AUDIT_VERBS as readonly string[]).includes(verb)) {
    throw new CliError(`invalid argument "${verb}" for "--verb" flag: expected one of ${AUDIT_VERBS.join(', ')}`);
  }
  const since = str(ctx.flags, 'since');
  const sinceMs = since === undefined ? 0 : parseDuration(since, 'since');
  return {
    user: str(ctx.flags, 'user'),
    // Without -n the whole log: who did what is rarely a question about one namespace.
    namespace: ctx.explicitNamespace ? ctx.namespace() : undefined,
    resource,
    name: str(ctx.flags, 'name'),
    verb,
    sinceTime: sinceMs > 0 ? new Date(now - sinceMs).toISOString() : undefined,
  };
}

/** The newest `limit` records matching `q`, oldest first. */
async function newest(client: HQClient, q: AuditQuery, limit: number): Promise<AuditEvent[]> {
  const items: AuditEvent[] = [];
  let cont: string | undefined;
  do {
    const page = await client.auditEvents({ ...q, order: 'desc', limit: String(Math.min(PAGE, limit - items.length)), continue: cont });
    items.push(...page.items);
    cont = page.metadata.continue;
  } while (cont && items.length < limit);
  return items.slice(0, limit).reverse();
}

export const auditCommand: Command = {
  name: 'audit',
  summary: "Show the audit log: who changed what, when, from where, and how it ended",
  help: `Show the server's audit log: every write (and every refused one) with its user, verb, object,
resourceVersion before and after, response code and source address. The newest records, oldest
first; without -n, from every namespace.

Usage:
  hqctl audit [--user USER] [-n NAMESPACE | -A] [--resource TYPE] [--name NAME] [--verb VERB]
              [--since DURATION] [--limit N] [-o wide|json|yaml] [-w]

Examples:
  hqctl audit                              # the last 100 writes
  hqctl audit --user alice --since 1h      # what alice did in the last hour
  hqctl audit --resource hc --name web     # every change to the config "web"
  hqctl audit -n prod -o wide              # writes in prod, with user agent and request id
  hqctl audit -w                           # keep printing new records`,
  flags: [
    { name: 'user', type: 'string', help: 'only records of USER (system:controller:rollout for the rollout controller)' },
    ALL_NAMESPACES_FLAG,
    { name: 'resource', type: 'string', help: 'only records about this TYPE (hi, hc, rev, ev, ... or a plural)' },
    { name: 'name', type: 'string', help: 'only records about objects named NAME' },
    { name: 'verb', type: 'string', help: `only this VERB: ${AUDIT_VERBS.join(', ')}` },
    { name: 'since', type: 'string', help: 'only records newer than DURATION, e.g. 30m, 1h, 24h' },
    { name: 'limit', type: 'string', help: 'print at most N records, the newest (default 100)' },
    { ...OUTPUT_FLAG, help: 'FORMAT: wide, json or yaml' },
    { name: 'watch', short: 'w', type: 'bool', help: 'after printing, keep printing new records' },
    { name: 'interval', type: 'string', help: 'with -w: how often to ask for new records, a DURATION (default 2s)' },
  ],
  async run(ctx) {
    const output = outputOf(ctx);
    const q = auditQuery(ctx);
    const limitFlag = str(ctx.flags, 'limit') ?? '100';
    if (!/^\d+$/.test(limitFlag) || Number(limitFlag) < 1) throw new CliError(`invalid argument "${limitFlag}" for "--limit" flag: expected a positive number`);
    const watch = bool(ctx.flags, 'watch');
    const intervalMs = parseDuration(str(ctx.flags, 'interval') ?? '2s', 'interval');
    const client = ctx.client();
    const items = await newest(client, q, Number(limitFlag));
    const wide = output === 'wide';

    if (!watch) {
      if (output === 'json' || output === 'yaml') {
        const list = listOf(items);
        ctx.out(output === 'json' ? toJson(list) : toYaml(list));
      } else if (items.length === 0) {
        ctx.err('No audit records found.\n');
      } else {
        ctx.out(columns([wide ? WIDE_HEADER : HEADER, ...items.map((e) => auditRow(e, wide))]));
      }
      return 0;
    }

    // -w: print what there is, then poll for records from the last one's millisecond on,
    // skipping those already printed (several can share a millisecond).
    const cols = new StreamingColumns();
    const header = wide ? WIDE_HEADER : HEADER;
    cols.measure([header, ...items.map((e) => auditRow(e, wide))]);
    let headerShown = false;
    const print = (e: AuditEvent) => {
      if (output === 'json') return ctx.out(toJson(e));
      if (output === 'yaml') return ctx.out('---\n' + toYaml(e));
      if (!headerShown) {
        headerShown = true;
        ctx.out(cols.format(header));
      }
      ctx.out(cols.format(auditRow(e, wide)));
    };
    for (const e of items) print(e);
    let since = items.length > 0 ? items[items.length - 1]!.time : (q.sinceTime ?? new Date().toISOString());
    let printed = new Set(items.filter((e) => e.time === since).map((e) => e.metadata.name));
    let stopped = false;
    void ctx.interrupted.then(() => (stopped = true));
    while (!stopped) {
      await Promise.race([new Promise((r) => setTimeout(r, intervalMs)), ctx.interrupted]);
      if (stopped) break;
      let cont: string | undefined;
      do {
        const page = await client.auditEvents({ ...q, sinceTime: since, order: 'asc', limit: String(PAGE), continue: cont });
        for (const e of page.items) {
          if (printed.has(e.metadata.name)) continue;
          if (e.time !== since) {
            since = e.time;
            printed = new Set();
          }
          printed.add(e.metadata.name);
          print(e);
        }
        cont = page.metadata.continue;
      } while (cont && !stopped);
    }
    return 0;
  },
};
