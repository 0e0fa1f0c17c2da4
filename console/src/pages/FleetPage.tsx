/**
 * The fleet at a glance: a health summary, filters (namespace, labels, condition, name), and
 * every instance with its conditions, revision, HAProxy version and heartbeat age, live from one
 * watch. The label selector goes to the server (its parser, its errors); the rest filter here.
 */
import type { HAProxyInstance, Lease } from '@haproxyhq/schemas';
import { A, useSearchParams } from '@solidjs/router';
import { For, Show, createMemo, createSignal } from 'solid-js';
import { collectionPath } from '../api/client.ts';
import { keyOf } from '../api/watch-reducer.ts';
import { createWatchedList } from '../api/watched-list.ts';
import Age from '../components/Age.tsx';
import ConditionBadge from '../components/ConditionBadge.tsx';
import ConnectionState from '../components/ConnectionState.tsx';
import ErrorMessage from '../components/ErrorMessage.tsx';
import { conditionOf, matchesFilter, summarize, type ConditionFilter } from '../lib/health.ts';

const FILTERS: { value: ConditionFilter; label: string }[] = [
  { value: 'all', label: 'All' },
  { value: 'not-ready', label: 'Not ready' },
  { value: 'ready', label: 'Ready' },
  { value: 'disconnected', label: 'Agent disconnected' },
  { value: 'haproxy-down', label: 'HAProxy not running' },
  { value: 'apply-failed', label: 'Apply failed' },
  { value: 'drifted', label: 'Drifted' },
];

/** Same elements in the same order: a memo that recomputes to this does not notify. */
const sameItems = <T,>(a: readonly T[], b: readonly T[]) => a.length === b.length && a.every((x, i) => x === b[i]);

/** Without a Lease to say otherwise, a heartbeat older than this is shown as late. */
const LATE_MS = 45_000;

export default function FleetPage() {
  const [params, setParams] = useSearchParams<{ ns?: string; l?: string; c?: string; q?: string }>();
  const labelSelector = () => params.l ?? '';
  return (
    <div class="page">
      {/* A new label selector is a new watch: the keyed Show re-creates the view. */}
      <Show when={{ l: labelSelector() }} keyed>
        {(sel) => <FleetView labelSelector={sel.l} params={params} setParams={setParams} />}
      </Show>
    </div>
  );
}

function FleetView(props: {
  labelSelector: string;
  params: { ns?: string; l?: string; c?: string; q?: string };
  setParams: (p: Record<string, string | undefined>) => void;
}) {
  const list = createWatchedList<HAProxyInstance>({ path: collectionPath('haproxyinstances'), labelSelector: props.labelSelector || undefined });
  // Liveness is the agent's Lease (renewed every --heartbeat-seconds), not its status, which it
  // rewrites only on a change or every --stats-seconds.
  const leases = createWatchedList<Lease>({ path: collectionPath('leases') });
  const [labelDraft, setLabelDraft] = createSignal(props.labelSelector);
  const ns = () => props.params.ns ?? '';
  const cond = () => (props.params.c as ConditionFilter | undefined) ?? 'all';
  const q = () => (props.params.q ?? '').toLowerCase();
  // Summary and filters read every instance: from the plain snapshot (once per batch of events),
  // not through the store, which would track every field they read (issue 5: smooth at 1,000).
  const namespaces = createMemo(() => [...new Set(list.snapshot().map((i) => i.metadata.namespace ?? 'default'))].sort(), [], { equals: sameItems });
  const inNamespace = createMemo(() => (ns() ? list.snapshot().filter((i) => i.metadata.namespace === ns()) : list.snapshot()));
  const summary = createMemo(() => summarize(inNamespace()));
  // The rows render the store's objects (fine-grained updates). Which rows is decided on the plain
  // data, as keys: unfiltered, that is the list's keys, which change only when instances come or
  // go, so a batch of status writes does not touch the table's membership at all.
  const visibleKeys = createMemo(
    () =>
      !ns() && cond() === 'all' && !q()
        ? list.keys()
        : inNamespace().filter((i) => matchesFilter(i, cond()) && (!q() || i.metadata.name!.toLowerCase().includes(q()))).map((i) => keyOf(i.metadata)),
    [],
    { equals: sameItems },
  );
  const visible = createMemo(() => visibleKeys().map((k) => list.get(k)).filter((i): i is HAProxyInstance => i !== undefined));

  return (
    <>
      <div class="page-head">
        <h1>Fleet</h1>
        <ConnectionState state={list.state()} error={list.error()} />
      </div>
      <Show when={list.state() === 'failed' && list.error()}>{(e) => <ErrorMessage error={e()} title="The fleet cannot be watched" />}</Show>

      <section class="summary" aria-label="Fleet health" data-testid="fleet-summary">
        <SummaryTile label="Instances" value={summary().total} filter="all" current={cond()} onPick={(c) => props.setParams({ c })} />
        <SummaryTile label="Ready" value={summary().ready} tone="good" filter="ready" current={cond()} onPick={(c) => props.setParams({ c })} />
        <SummaryTile label="Not ready" value={summary().notReady + summary().unknown} tone={summary().notReady + summary().unknown ? 'bad' : undefined} filter="not-ready" current={cond()} onPick={(c) => props.setParams({ c })} />
        <SummaryTile label="Agent disconnected" value={summary().disconnected} tone={summary().disconnected ? 'bad' : undefined} filter="disconnected" current={cond()} onPick={(c) => props.setParams({ c })} />
        <SummaryTile label="HAProxy down" value={summary().haproxyDown} tone={summary().haproxyDown ? 'bad' : undefined} filter="haproxy-down" current={cond()} onPick={(c) => props.setParams({ c })} />
        <SummaryTile label="Apply failed" value={summary().applyFailed} tone={summary().applyFailed ? 'bad' : undefined} filter="apply-failed" current={cond()} onPick={(c) => props.setParams({ c })} />
        <SummaryTile label="Drifted" value={summary().drifted} tone={summary().drifted ? 'warn' : undefined} filter="drifted" current={cond()} onPick={(c) => props.setParams({ c })} />
      </section>
      <Show when={summary().revisions.length > 0}>
        <p class="muted revisions-line">
          Running:{' '}
          <For each={summary().revisions.slice(0, 6)}>{(r, i) => <>{i() > 0 ? ', ' : ''}<code>{r.revision}</code> × {r.count}</>}</For>
          {summary().revisions.length > 6 ? `, and ${summary().revisions.length - 6} more` : ''}
        </p>
      </Show>

      <form class="filters" role="search" aria-label="Filter instances" onSubmit={(e) => { e.preventDefault(); props.setParams({ l: labelDraft().trim() || undefined }); }}>
        <label>
          Namespace
          <select value={ns()} onChange={(e) => props.setParams({ ns: e.currentTarget.value || undefined })}>
            <option value="">All namespaces</option>
            <For each={namespaces()}>{(n) => <option value={n}>{n}</option>}</For>
          </select>
        </label>
        <label>
          Condition
          <select value={cond()} onChange={(e) => props.setParams({ c: e.currentTarget.value === 'all' ? undefined : e.currentTarget.value })}>
            <For each={FILTERS}>{(f) => <option value={f.value}>{f.label}</option>}</For>
          </select>
        </label>
        <label>
          Labels
          <input
            type="text"
            placeholder="env=prod,region in (eu,us)"
            value={labelDraft()}
            onInput={(e) => setLabelDraft(e.currentTarget.value)}
            onBlur={() => labelDraft().trim() !== props.labelSelector && props.setParams({ l: labelDraft().trim() || undefined })}
            aria-describedby="labels-help"
          />
          <span id="labels-help" class="sr-only">A Kubernetes label selector, applied by the server. Press Enter to apply.</span>
        </label>
        <label>
          Name
          <input type="search" placeholder="edge-" value={props.params.q ?? ''} onInput={(e) => props.setParams({ q: e.currentTarget.value || undefined })} />
        </label>
      </form>

      <Show when={list.loaded()} fallback={<p class="muted">Loading instances…</p>}>
        <p class="muted" aria-live="polite">
          Showing {visible().length} of {list.keys().length} instance{list.keys().length === 1 ? '' : 's'}
          {props.labelSelector ? ` matching ${props.labelSelector}` : ''}.
        </p>
        <div class="table-wrap">
          <table class="fleet" data-testid="fleet-table">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Namespace</th>
                <th scope="col">Ready</th>
                <th scope="col">Agent</th>
                <th scope="col">HAProxy</th>
                <th scope="col">Drifted</th>
                <th scope="col">Revision</th>
                <th scope="col">Version</th>
                <th scope="col">Heartbeat</th>
              </tr>
            </thead>
            <tbody>
              <For each={visible()}>{(i) => <InstanceRow i={i} lease={leases.get(`${i.metadata.namespace}/${i.metadata.name}`)} />}</For>
            </tbody>
          </table>
        </div>
        <Show when={list.keys().length === 0}>
          <p class="empty">No instances yet. An agent registers its instance when it starts: <code>hq-agent run --name edge-1</code>.</p>
        </Show>
      </Show>
    </>
  );
}

function SummaryTile(props: { label: string; value: number; tone?: 'good' | 'bad' | 'warn' | undefined; filter: ConditionFilter; current: ConditionFilter; onPick: (c: string | undefined) => void }) {
  return (
    <button
      type="button"
      class={`tile ${props.tone ? `tile-${props.tone}` : ''}`}
      aria-pressed={props.current === props.filter}
      onClick={() => props.onPick(props.filter === 'all' || props.current === props.filter ? undefined : props.filter)}
    >
      <span class="tile-value">{props.value}</span>
      <span class="tile-label">{props.label}</span>
    </button>
  );
}

function InstanceRow(props: { i: HAProxyInstance; lease: Lease | undefined }) {
  const heartbeat = () => props.lease?.spec?.renewTime ?? props.i.status?.heartbeatTime;
  const lateAfter = () => (props.lease?.spec?.leaseDurationSeconds ? props.lease.spec.leaseDurationSeconds * 1000 : LATE_MS);
  const desired = () => props.i.spec?.configRevision;
  const applied = () => props.i.status?.appliedRevision;
  // One lookup per condition when the instance changes, not one per read (a badge reads it thrice).
  const condition = (type: string) => createMemo(() => conditionOf(props.i, type));
  const ready = condition('Ready');
  const agent = condition('AgentConnected');
  const haproxy = condition('HAProxyRunning');
  const drifted = condition('Drifted');
  return (
    <tr data-instance={props.i.metadata.name}>
      <th scope="row">
        <A href={`/instances/${encodeURIComponent(props.i.metadata.namespace ?? 'default')}/${encodeURIComponent(props.i.metadata.name!)}`}>{props.i.metadata.name}</A>
        <Show when={props.i.spec?.paused}> <span class="tag">paused</span></Show>
      </th>
      <td>{props.i.metadata.namespace}</td>
      <td><ConditionBadge type="Ready" condition={ready()} /></td>
      <td><ConditionBadge type="AgentConnected" condition={agent()} /></td>
      <td><ConditionBadge type="HAProxyRunning" condition={haproxy()} /></td>
      <td><ConditionBadge type="Drifted" condition={drifted()} /></td>
      <td>
        <code>{applied() ?? '—'}</code>
        <Show when={desired() && desired() !== applied()}>
          <span class="muted" title={`spec.configRevision is ${desired()}`}> → <code>{desired()}</code></span>
        </Show>
      </td>
      <td>{props.i.status?.haproxy?.version ?? '—'}</td>
      <td><Age time={heartbeat()} staleAfterMs={lateAfter()} /></td>
    </tr>
  );
}
