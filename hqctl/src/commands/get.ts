/**
 * `hqctl get`: tables with the server's printer columns (requested as kubectl does, with
 * `Accept: ...;as=Table`), -o yaml|json|wide|name|rendered|jsonpath=TEMPLATE, -l, -A, --show-labels, and -w, which
 * prints rows as they change.
 */
import { API_VERSION, GROUP, evaluateJsonPath } from '@haproxyhq/schemas';
import { bool, str } from '../args.ts';
import type { HQClient, ListOptions, Table } from '../client.ts';
import { ALL_NAMESPACES_FLAG, OUTPUT_FLAG, SELECTOR_FLAG, type Command, type Context } from '../command.ts';
import { ApiError, CliError, formatError } from '../errors.ts';
import { SUPPORTED_JSONPATH, evaluatorPath, parseJsonPathTemplate, renderJsonPathTemplate } from '../jsonpath.ts';
import {
  StreamingColumns,
  columns,
  configText,
  listOf,
  ordered,
  tableHeader,
  tableRow,
  toJson,
  toYaml,
  type TableOptions,
} from '../printers.ts';
import { JOIN_TOKEN_TYPES, TOKEN_TYPES, getTokens } from './tokens.ts';
import { USER_TYPES, getUsers } from './users.ts';
import { INSTANCES, ALL_RESOURCES, parseResourceArgs, refName, type AnyObject, type ObjectRef, type Resource } from '../resources.ts';

type Output = 'table' | 'wide' | 'yaml' | 'json' | 'name' | 'rendered' | 'jsonpath';

function outputOf(ctx: Context): Output {
  const o = str(ctx.flags, 'output');
  if (o === undefined) return 'table';
  if (o === 'yaml' || o === 'json' || o === 'wide' || o === 'name' || o === 'rendered') return o;
  if (o.startsWith('jsonpath=')) {
    // A bad template is refused before anything is read.
    parseJsonPathTemplate(jsonPathOf(ctx));
    return 'jsonpath';
  }
  throw new CliError(
    `unable to match a printer suitable for the output format "${o}", allowed formats are: json, jsonpath=TEMPLATE, name, rendered, wide, yaml`,
  );
}

/**
 * --sort-by=PATH (`.a.b` or `{.a.b}`, as kubectl takes it): objects compared by the first value
 * the path finds in each, numbers as numbers, anything else as text; an object without it first.
 * Lists are sorted (each type's own, and -w's first list); named objects print in the order asked.
 */
function sorterOf(ctx: Context): Sort | undefined {
  const given = str(ctx.flags, 'sort-by');
  if (given === undefined) return undefined;
  let path: string;
  try {
    path = evaluatorPath(given.replace(/^\{(.*)\}$/, '$1'));
    if (!path.startsWith('.') && !path.startsWith('[')) throw new Error('not a path');
  } catch {
    throw new CliError(`--sort-by ${JSON.stringify(given)}: not a supported JSONPath (e.g. .metadata.name; supported: ${SUPPORTED_JSONPATH})`);
  }
  const key = (o: unknown) => evaluateJsonPath(o, path)[0];
  const text = (v: unknown) => (typeof v === 'string' ? v : JSON.stringify(v));
  return (a, b) => {
    const x = key(a);
    const y = key(b);
    if (x === undefined || y === undefined) return (x === undefined ? 0 : 1) - (y === undefined ? 0 : 1);
    if (typeof x === 'number' && typeof y === 'number') return x - y;
    const [s, t] = [text(x), text(y)];
    return s < t ? -1 : s > t ? 1 : 0;
  };
}

type Sort = (a: unknown, b: unknown) => number;

/** The server's Table, its rows sorted by their whole objects (asked for only then) with --sort-by. */
async function sortedTable(client: HQClient, r: Resource, opts: ListOptions, sort: Sort | undefined): Promise<Table> {
  const table = await client.table(r, { ...opts, wholeObjects: sort !== undefined });
  if (sort) table.rows.sort((a, b) => sort(a.object, b.object));
  return table;
}

/** The TEMPLATE of -o jsonpath=TEMPLATE. */
function jsonPathOf(ctx: Context): string {
  return str(ctx.flags, 'output')!.slice('jsonpath='.length);
}

/** An object as kubectl prints it: apiVersion and kind first. */
export function printable(r: Resource, obj: AnyObject): Record<string, unknown> {
  return ordered(obj, API_VERSION, r.kind);
}

function printObjects(ctx: Context, output: Output, items: { r: Resource; obj: AnyObject }[], single: boolean): void {
  if (output === 'name') {
    for (const { r, obj } of items) ctx.out(refName(r, obj.metadata.name ?? '') + '\n');
    return;
  }
  const objects = items.map(({ r, obj }) => printable(r, obj));
  const value = single && objects.length === 1 ? objects[0] : listOf(objects);
  if (output === 'jsonpath') ctx.out(renderJsonPathTemplate(jsonPathOf(ctx), value));
  else ctx.out(output === 'json' ? toJson(value) : toYaml(value));
}

function noResources(ctx: Context, namespace: string | undefined): void {
  ctx.err(namespace === undefined ? 'No resources found\n' : `No resources found in ${namespace} namespace.\n`);
}

export const getCommand: Command = {
  name: 'get',
  summary: 'Display one or many resources',
  help: `Display one or many resources, with the server's printer columns.

Usage:
  hqctl get TYPE[,TYPE...] [NAME...] [flags]
  hqctl get TYPE/NAME... [flags]
  hqctl get tokens | join-tokens [-o json|yaml]
  hqctl get users [NAME...] [-o json|yaml|name]

Types: haproxyinstances (hi, hpi, instance), haproxyconfigs (hc, hpc, config),
configrevisions (rev, hpcr), events (ev), leases; and tokens (API tokens, by id, never their
secrets), join-tokens (of the namespace) and users (never their passwords). Categories, as
kubectl takes them: all (instances and configs), haproxyhq (every type above but tokens and
users), haproxyhq-rbac (roles and bindings).

Examples:
  hqctl get hi                         # instances in the namespace, as a table
  hqctl get hi -o wide -l role=edge    # more columns, only edge instances
  hqctl get haproxyconfig/web -o yaml
  hqctl get hc,hi -A                   # configs and instances in every namespace
  hqctl get hi -w                      # print rows as they change
  hqctl get hi edge-1 -o rendered      # the config edge-1 runs, templates filled in
  hqctl get hi edge-1 -o jsonpath='{.status.appliedRevision}'
  hqctl get hi --sort-by=.status.heartbeatTime   # longest silent first
  hqctl get hi -o jsonpath='{range .items[*]}{.metadata.name}{"\t"}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}'
  hqctl get hi edge-1 -o rendered --revision web-4   # what it would get from web-4`,
  flags: [
    OUTPUT_FLAG,
    SELECTOR_FLAG,
    ALL_NAMESPACES_FLAG,
    { name: 'watch', short: 'w', type: 'bool', help: 'after listing, watch for changes and print them' },
    { name: 'watch-only', type: 'bool', help: 'watch for changes without listing first' },
    { name: 'show-labels', type: 'bool', help: 'add a LABELS column' },
    { name: 'field-selector', type: 'string', help: 'field SELECTOR, e.g. metadata.name=web' },
    { name: 'revision', type: 'string', help: 'with -o rendered: the REVISION (e.g. web-4) to render instead of the one the instance runs' },
    { name: 'sort-by', type: 'string', help: "sort a list by a JSONPath field, e.g. --sort-by=.metadata.creationTimestamp or '{.status.appliedRevision}'" },
  ],
  async run(ctx) {
    // Tokens are not resources: listed by id, never read one by one (commands/tokens.ts).
    const first = ctx.positionals[0]?.toLowerCase();
    if (first !== undefined && TOKEN_TYPES.includes(first)) return getTokens(ctx, false);
    if (first !== undefined && JOIN_TOKEN_TYPES.includes(first)) return getTokens(ctx, true);
    if (first !== undefined && USER_TYPES.includes(first)) return getUsers(ctx);
    const output = outputOf(ctx);
    const sort = sorterOf(ctx);
    const { types, refs } = parseResourceArgs(ctx.positionals);
    if (types.length === 0 && refs.length === 0) {
      throw new CliError(
        `you must specify the type of resource to get: ${ALL_RESOURCES.map((r) => `${r.plural} (${r.aliases.slice(3).join(', ')})`).join(', ')}`,
      );
    }
    const all = bool(ctx.flags, 'all-namespaces');
    const watch = bool(ctx.flags, 'watch') || bool(ctx.flags, 'watch-only');
    const selector = str(ctx.flags, 'selector');
    const fieldSelector = str(ctx.flags, 'field-selector');
    if (refs.length > 0 && all) throw new CliError('a resource cannot be retrieved by name across all namespaces');
    if (refs.length > 0 && selector) throw new CliError('name cannot be provided when a selector is specified');
    if (output === 'rendered' && (refs.length === 0 || refs.some((r) => r.resource !== INSTANCES))) {
      throw new CliError('-o rendered needs haproxyinstance names: hqctl get haproxyinstance NAME -o rendered');
    }
    const client = ctx.client();
    const namespace = all ? undefined : ctx.namespace();
    const tableOpts = (r: Resource, multi: boolean): TableOptions => ({
      wide: output === 'wide',
      withNamespace: all,
      showLabels: bool(ctx.flags, 'show-labels'),
      namePrefix: multi ? `${r.singular}.${GROUP}/` : undefined,
    });

    if (watch) {
      const r = types.length === 1 ? types[0]! : refs.length === 1 ? refs[0]!.resource : undefined;
      if (!r || (refs.length > 1)) throw new CliError('watch is only supported on individual resources and resource collections of one type');
      const fs = refs.length === 1 ? `metadata.name=${refs[0]!.name}` : fieldSelector;
      return watchGet(ctx, client, r, { namespace, labelSelector: selector, fieldSelector: fs }, output, tableOpts(r, false), sort);
    }

    if (output === 'rendered') {
      let code = 0;
      for (const ref of refs) {
        try {
          const r = await client.rendered(namespace!, ref.name, str(ctx.flags, 'revision'));
          ctx.out(configText(r.config, r.files));
        } catch (err) {
          ctx.err(formatError(err) + '\n');
          code = 1;
        }
      }
      return code;
    }

    if (refs.length > 0) return getNamed(ctx, client, refs, namespace!, output, tableOpts);

    // Lists, one per type.
    const listOpts: ListOptions = { namespace, labelSelector: selector, fieldSelector };
    if (output === 'table' || output === 'wide') {
      const parts: string[] = [];
      for (const r of types) {
        const table = await sortedTable(client, r, listOpts, sort);
        if (table.rows.length === 0) continue;
        const opts = tableOpts(r, types.length > 1);
        parts.push(columns([tableHeader(table, opts), ...table.rows.map((row) => tableRow(table, row, opts))]));
      }
      if (parts.length === 0) noResources(ctx, namespace);
      else ctx.out(parts.join('\n'));
      return 0;
    }
    const items: { r: Resource; obj: AnyObject }[] = [];
    for (const r of types) {
      const list = await client.list(r, listOpts);
      if (sort) list.items.sort(sort);
      items.push(...list.items.map((obj) => ({ r, obj })));
    }
    if (items.length === 0 && output === 'name') noResources(ctx, namespace);
    else printObjects(ctx, output, items, false);
    return 0;
  },
};

/** get TYPE NAME...: print what exists, report what does not (exit 1 if anything is missing). */
async function getNamed(
  ctx: Context,
  client: HQClient,
  refs: ObjectRef[],
  namespace: string,
  output: Output,
  tableOpts: (r: Resource, multi: boolean) => TableOptions,
): Promise<number> {
  const errors: string[] = [];
  const multi = new Set(refs.map((r) => r.resource)).size > 1;
  if (output === 'table' || output === 'wide') {
    // One table per type, rows in the order asked.
    const byType = new Map<Resource, Table>();
    for (const ref of refs) {
      try {
        const t = await client.table(ref.resource, { namespace, name: ref.name });
        const prev = byType.get(ref.resource);
        if (prev) prev.rows.push(...t.rows);
        else byType.set(ref.resource, t);
      } catch (err) {
        if (!(err instanceof ApiError)) throw err;
        errors.push(formatError(err));
      }
    }
    const parts = [...byType].map(([r, table]) => {
      const opts = tableOpts(r, multi);
      return columns([tableHeader(table, opts), ...table.rows.map((row) => tableRow(table, row, opts))]);
    });
    if (parts.length > 0) ctx.out(parts.join('\n'));
  } else {
    const items: { r: Resource; obj: AnyObject }[] = [];
    for (const ref of refs) {
      try {
        items.push({ r: ref.resource, obj: await client.get(ref.resource, namespace, ref.name) });
      } catch (err) {
        if (!(err instanceof ApiError)) throw err;
        errors.push(formatError(err));
      }
    }
    if (items.length > 0) printObjects(ctx, output, items, refs.length === 1);
  }
  for (const e of errors) ctx.err(e + '\n');
  return errors.length > 0 ? 1 : 0;
}

/** get -w: list (unless --watch-only), then print each change until interrupted. */
async function watchGet(
  ctx: Context,
  client: HQClient,
  r: Resource,
  opts: ListOptions,
  output: Output,
  tableOpts: TableOptions,
  sort: Sort | undefined,
): Promise<number> {
  const listFirst = !bool(ctx.flags, 'watch-only');
  for (;;) {
    let watch;
    if (output === 'table' || output === 'wide') {
      const table = await sortedTable(client, r, opts, sort);
      const cols = new StreamingColumns();
      const header = tableHeader(table, tableOpts);
      let printedHeader = false;
      const printHeader = () => {
        if (printedHeader) return;
        printedHeader = true;
        ctx.out(cols.format(header));
      };
      const rows = table.rows.map((row) => tableRow(table, row, tableOpts));
      cols.measure([header, ...rows]);
      if (listFirst) {
        if (rows.length > 0) printHeader();
        for (const row of rows) ctx.out(cols.format(row));
        if (rows.length === 0) noResources(ctx, opts.namespace);
      }
      watch = client.watchTable(r, { ...opts, resourceVersion: table.metadata?.resourceVersion ?? '0' }, (_type, t) => {
        for (const row of t.rows) {
          printHeader();
          // Watch events after the first carry no column definitions: use the list's.
          ctx.out(cols.format(tableRow(t.columnDefinitions.length > 0 ? t : table, row, tableOpts)));
        }
      });
    } else {
      const list = await client.list(r, opts);
      if (sort) list.items.sort(sort);
      if (listFirst) {
        for (const obj of list.items) printWatched(ctx, output, r, obj);
      }
      watch = client.watch(r, { ...opts, resourceVersion: list.resourceVersion }, (_type, obj) => printWatched(ctx, output, r, obj));
    }
    const stop = watch.stop;
    void ctx.interrupted.then(stop);
    try {
      await watch.done;
      return 0;
    } catch (err) {
      // 410 Gone: our resourceVersion was compacted away; list again and carry on, as kubectl does.
      if (err instanceof ApiError && err.code === 410) continue;
      throw err;
    }
  }
}

function printWatched(ctx: Context, output: Output, r: Resource, obj: AnyObject): void {
  if (output === 'name') ctx.out(refName(r, obj.metadata.name ?? '') + '\n');
  else if (output === 'json') ctx.out(toJson(printable(r, obj)));
  else if (output === 'jsonpath') ctx.out(renderJsonPathTemplate(jsonPathOf(ctx), printable(r, obj)));
  else ctx.out('---\n' + toYaml(printable(r, obj)));
}
