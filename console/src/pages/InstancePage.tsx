/**
 * One instance: its conditions with reasons, what HAProxy runs, the last apply error, traffic
 * over the last hour, frontends / backends / servers with server actions, and its events. Live
 * from watches; charts re-read the server's stats history when the agent reports new stats.
 */
import type { Condition, HAProxyInstance, HQEvent, Lease } from '@haproxyhq/schemas';
import { humanDuration } from '@haproxyhq/schemas/duration';
import { A, useParams } from '@solidjs/router';
import { For, Show, createMemo, createResource, createSignal } from 'solid-js';
import { collectionPath } from '../api/client.ts';
import { setServer } from '../api/instances.ts';
import { alignSeries, fetchMetrics } from '../api/metrics.ts';
import { createWatchedList } from '../api/watched-list.ts';
import Age from '../components/Age.tsx';
import ConditionBadge from '../components/ConditionBadge.tsx';
import ConfirmDialog from '../components/ConfirmDialog.tsx';
import ConnectionState from '../components/ConnectionState.tsx';
import ErrorMessage from '../components/ErrorMessage.tsx';
import RateChart from '../components/RateChart.tsx';
import { CONDITION_TYPES, conditionOf } from '../lib/health.ts';
import { declaredFor, describeChange, type ServerChange } from '../lib/servers.ts';

type StatRow = NonNullable<NonNullable<NonNullable<HAProxyInstance['status']>['stats']>['servers']>[number];

/** The config a revision belongs to: revisions are named <config>-<generation>. */
export const configOfRevision = (rev: string) => rev.replace(/-\d+$/, '');

export default function InstancePage() {
  const params = useParams<{ namespace: string; name: string }>();
  return (
    <Show when={`${params.namespace}/${params.name}`} keyed>
      <InstanceView namespace={params.namespace} name={params.name} />
    </Show>
  );
}

function InstanceView(props: { namespace: string; name: string }) {
  const byName = `metadata.name=${props.name}`;
  const instances = createWatchedList<HAProxyInstance>({ path: collectionPath('haproxyinstances', props.namespace), fieldSelector: byName });
  const leases = createWatchedList<Lease>({ path: collectionPath('leases', props.namespace), fieldSelector: byName });
  const events = createWatchedList<HQEvent>({
    path: collectionPath('events', props.namespace),
    fieldSelector: `involvedObject.kind=HAProxyInstance,involvedObject.name=${props.name}`,
  });
  const key = `${props.namespace}/${props.name}`;
  const instance = () => instances.get(key);
  const sortedEvents = createMemo(() =>
    [...events.items()].sort((a, b) => (b.lastTimestamp ?? b.metadata.creationTimestamp ?? '').localeCompare(a.lastTimestamp ?? a.metadata.creationTimestamp ?? '')),
  );

  return (
    <div class="page">
      <nav class="crumbs" aria-label="Breadcrumb"><A href="/">Fleet</A> / {props.namespace} / <span aria-current="page">{props.name}</span></nav>
      <div class="page-head">
        <h1>{props.name}</h1>
        <ConnectionState state={instances.state()} error={instances.error()} />
      </div>
      <Show when={instances.loaded()} fallback={<p class="muted">Loading…</p>}>
        <Show when={instance()} fallback={<ErrorMessage error={new Error(`haproxyinstances "${props.name}" not found in namespace ${props.namespace}`)} title="Not found" />}>
          {(i) => (
            <>
              <div class="badges" data-testid="instance-conditions">
                <For each={CONDITION_TYPES}>{(t) => <ConditionBadge type={t} label={t} condition={conditionOf(i(), t)} />}</For>
              </div>
              <Overview i={i()} lease={leases.get(key)} />
              <Show when={i().status?.lastApplyError}>
                {(e) => (
                  <section class="apply-error" aria-labelledby="apply-error-h" data-testid="apply-error">
                    <h2 id="apply-error-h">Last apply error</h2>
                    <p>
                      Revision <code>{e().revision ?? '?'}</code>
                      {e().line ? <> at line <strong>{e().line}</strong>{e().file ? ` of ${e().file}` : ''}</> : ''}
                      {e().time ? <>, <Age time={e().time} /> ago</> : ''}
                      <Show when={e().revision}>
                        {' '}· <A href={`/configs/${encodeURIComponent(props.namespace)}/${encodeURIComponent(configOfRevision(e().revision!))}`}>open the config</A>
                      </Show>
                    </p>
                    <pre>{e().message}</pre>
                  </section>
                )}
              </Show>
              <Conditions conditions={i().status?.conditions ?? []} />
              <Traffic namespace={props.namespace} name={props.name} statsKey={i().status?.heartbeatTime ?? ''} />
              <Stats i={i()} />
              <section aria-labelledby="events-h">
                <h2 id="events-h">Events</h2>
                <Show when={sortedEvents().length > 0} fallback={<p class="muted">No events.</p>}>
                  <div class="table-wrap">
                    <table data-testid="instance-events">
                      <thead><tr><th scope="col">Type</th><th scope="col">Reason</th><th scope="col">Age</th><th scope="col">From</th><th scope="col">Message</th></tr></thead>
                      <tbody>
                        <For each={sortedEvents()}>
                          {(e) => (
                            <tr class={e.type === 'Warning' ? 'warn-row' : ''}>
                              <td>{e.type}</td>
                              <td>{e.reason}{(e.count ?? 1) > 1 ? ` (×${e.count})` : ''}</td>
                              <td><Age time={e.lastTimestamp ?? e.metadata.creationTimestamp} /></td>
                              <td>{e.source?.component ?? ''}</td>
                              <td class="message">{e.message}</td>
                            </tr>
                          )}
                        </For>
                      </tbody>
                    </table>
                  </div>
                </Show>
              </section>
            </>
          )}
        </Show>
      </Show>
    </div>
  );
}

function Overview(props: { i: HAProxyInstance; lease: Lease | undefined }) {
  const h = () => props.i.status?.haproxy;
  const desired = () => props.i.spec?.configRevision;
  const applied = () => props.i.status?.appliedRevision;
  return (
    <section aria-labelledby="overview-h">
      <h2 id="overview-h" class="sr-only">Overview</h2>
      <dl class="facts">
        <div><dt>Should run</dt><dd>{desired() ? <A href={`/configs/${encodeURIComponent(props.i.metadata.namespace!)}/${encodeURIComponent(configOfRevision(desired()!))}`}><code>{desired()}</code></A> : '—'}{props.i.spec?.paused ? ' (paused)' : ''}</dd></div>
        <div><dt>Runs</dt><dd><code>{applied() ?? '—'}</code></dd></div>
        <div><dt>Applied hash</dt><dd><code class="hash" title={props.i.status?.appliedHash}>{props.i.status?.appliedHash?.slice(0, 19) ?? '—'}</code></dd></div>
        <div><dt>HAProxy</dt><dd>{h()?.version ?? '—'}</dd></div>
        <div><dt>Master / worker PID</dt><dd>{h()?.pid ?? '—'} / {h()?.workerPid ?? '—'}</dd></div>
        <div><dt>Uptime</dt><dd>{h()?.uptimeSeconds !== undefined ? humanDuration(h()!.uptimeSeconds! * 1000) : '—'}</dd></div>
        <div><dt>Reloads (failed)</dt><dd>{h()?.reloads ?? '—'} ({h()?.failedReloads ?? 0})</dd></div>
        <div><dt>Connections</dt><dd>{h()?.currentConnections ?? '—'}</dd></div>
        <div><dt>Session rate</dt><dd>{h()?.sessionRate ?? '—'}/s</dd></div>
        <div><dt>Agent</dt><dd>{props.i.status?.agent?.version ?? '—'} on {props.i.status?.agent?.hostname ?? '—'}</dd></div>
        <div><dt>Heartbeat</dt><dd><Age time={props.lease?.spec?.renewTime ?? props.i.status?.heartbeatTime} /> ago</dd></div>
        <div><dt>Labels</dt><dd><For each={Object.entries(props.i.metadata.labels ?? {})}>{([k, v]) => <span class="tag">{k}={v}</span>}</For></dd></div>
      </dl>
    </section>
  );
}

function Conditions(props: { conditions: Condition[] }) {
  return (
    <section aria-labelledby="conditions-h">
      <h2 id="conditions-h">Conditions</h2>
      <div class="table-wrap">
        <table>
          <thead><tr><th scope="col">Type</th><th scope="col">Status</th><th scope="col">Reason</th><th scope="col">Since</th><th scope="col">Message</th></tr></thead>
          <tbody>
            <For each={props.conditions}>
              {(c) => (
                <tr>
                  <th scope="row">{c.type}</th>
                  <td><ConditionBadge type={c.type} condition={c} /></td>
                  <td>{c.reason}</td>
                  <td><Age time={c.lastTransitionTime} /></td>
                  <td class="message">{c.message}</td>
                </tr>
              )}
            </For>
          </tbody>
        </table>
      </div>
    </section>
  );
}

function Traffic(props: { namespace: string; name: string; statsKey: string }) {
  // Re-read the history when the agent reports again (the status watch tells us): no polling.
  const [metrics] = createResource(() => props.statsKey || 'none', () => fetchMetrics(props.namespace, props.name));
  const instanceChart = createMemo(() => {
    const m = metrics.latest;
    if (!m) return undefined;
    return { t: m.instance.t, series: [{ label: 'connections', values: m.instance.currentConnections }, { label: 'sessions/s', values: m.instance.sessionRate }, { label: 'requests/s', values: m.instance.requestRate }] };
  });
  const backendChart = (field: 'currentSessions' | 'sessionRate') => {
    const m = metrics.latest;
    if (!m || m.backends.length === 0) return undefined;
    const a = alignSeries(m.backends.map((b) => ({ t: b.t, values: b[field] })));
    return { t: a.t, series: m.backends.map((b, k) => ({ label: b.name, values: a.values[k]! })) };
  };
  return (
    <section aria-labelledby="traffic-h" data-testid="traffic">
      <h2 id="traffic-h">Traffic, last hour</h2>
      <Show when={metrics.error}>{(e) => <ErrorMessage error={e()} title="No traffic history" />}</Show>
      <Show when={instanceChart()} fallback={<Show when={!metrics.error}><p class="muted">Waiting for the agent's first stats…</p></Show>}>
        {(c) => (
          <div class="charts">
            <RateChart title="Instance" unit="" t={c().t} series={c().series} />
            <Show when={backendChart('currentSessions')}>{(b) => <RateChart title="Sessions per backend" unit="sessions" t={b().t} series={b().series} />}</Show>
            {/* HAProxy's show stat has req_rate for frontends only: backends are charted by session rate. */}
            <Show when={backendChart('sessionRate')}>{(b) => <RateChart title="Session rate per backend" unit="sessions/s" t={b().t} series={b().series} />}</Show>
          </div>
        )}
      </Show>
      <Show when={metrics.latest?.truncatedBackends}>{(n) => <p class="muted">{n()} more backends are not charted.</p>}</Show>
    </section>
  );
}

interface PendingAction {
  backend: string;
  server: string;
  change: ServerChange;
}

function Stats(props: { i: HAProxyInstance }) {
  const s = () => props.i.status?.stats;
  const [pending, setPending] = createSignal<PendingAction>();
  const [weight, setWeight] = createSignal(100);
  const [busy, setBusy] = createSignal(false);
  const [error, setError] = createSignal<unknown>();
  const [done, setDone] = createSignal<string>();

  const ask = (backend: string, server: string, change: ServerChange) => {
    setError(undefined);
    setDone(undefined);
    if ('weight' in change) setWeight(change.weight);
    setPending({ backend, server, change });
  };
  const confirm = async () => {
    const p = pending();
    if (!p) return;
    const change: ServerChange = 'weight' in p.change ? { weight: weight() } : p.change;
    setBusy(true);
    try {
      await setServer(props.i.metadata.namespace!, props.i.metadata.name!, p.backend, p.server, change);
      setDone(`${describeChange(change, p.backend, p.server, props.i.metadata.name!)} Declared; the agent applies it through the runtime API.`);
      setPending(undefined);
    } catch (err) {
      setError(err);
      setPending(undefined);
    } finally {
      setBusy(false);
    }
  };

  const table = (title: string, rows: StatRow[] | undefined, kind: 'frontend' | 'backend' | 'server') => (
    <Show when={rows && rows.length > 0}>
      <h3>{title}</h3>
      <div class="table-wrap">
        <table data-testid={`stats-${kind}s`}>
          <thead>
            <tr>
              <th scope="col">Name</th>
              {kind === 'server' ? <th scope="col">Backend</th> : null}
              <th scope="col">Status</th>
              <th scope="col">Sessions</th>
              <th scope="col">Max</th>
              <th scope="col">Total</th>
              <th scope="col">Sess/s</th>
              <th scope="col">Req/s</th>
              {kind === 'server' ? <><th scope="col">Weight</th><th scope="col">Check</th><th scope="col">Declared</th><th scope="col"><span class="sr-only">Actions</span></th></> : null}
            </tr>
          </thead>
          <tbody>
            <For each={rows}>
              {(r) => {
                const declared = () => (kind === 'server' ? declaredFor(props.i.spec?.servers, r.backend ?? '', r.name) : undefined);
                return (
                  <tr data-server={kind === 'server' ? `${r.backend}/${r.name}` : undefined}>
                    <th scope="row">{r.name}</th>
                    {kind === 'server' ? <td>{r.backend}</td> : null}
                    <td><span class={`st st-${(r.status ?? '').split(' ')[0]!.toLowerCase()}`}>{r.status ?? '—'}</span></td>
                    <td>{r.currentSessions ?? '—'}</td>
                    <td>{r.maxSessions ?? '—'}</td>
                    <td>{r.totalSessions ?? '—'}</td>
                    <td>{r.sessionRate ?? '—'}</td>
                    <td>{r.requestRate ?? '—'}</td>
                    {kind === 'server' ? (
                      <>
                        <td>{r.weight ?? '—'}</td>
                        <td>{r.checkStatus ?? ''}</td>
                        <td data-testid="declared">{declared() ? [declared()!.state, declared()!.weight !== undefined ? `weight ${declared()!.weight}` : undefined].filter(Boolean).join(', ') : '—'}</td>
                        <td class="actions">
                          <button type="button" onClick={() => ask(r.backend!, r.name, { state: 'drain' })} aria-label={`Drain ${r.backend}/${r.name}`}>Drain</button>
                          <button type="button" onClick={() => ask(r.backend!, r.name, { state: 'maint' })} aria-label={`Maintenance for ${r.backend}/${r.name}`}>Maint</button>
                          <button type="button" onClick={() => ask(r.backend!, r.name, { state: 'ready' })} aria-label={`Ready ${r.backend}/${r.name}`}>Ready</button>
                          <button type="button" onClick={() => ask(r.backend!, r.name, { weight: r.weight ?? declared()?.weight ?? 1 })} aria-label={`Set weight of ${r.backend}/${r.name}`}>Weight…</button>
                        </td>
                      </>
                    ) : null}
                  </tr>
                );
              }}
            </For>
          </tbody>
        </table>
      </div>
    </Show>
  );

  return (
    <section aria-labelledby="stats-h">
      <h2 id="stats-h">Frontends, backends and servers</h2>
      <Show when={done()}>{(d) => <p class="notice" role="status">{d()}</p>}</Show>
      <Show when={error()}>{(e) => <ErrorMessage error={e()} title="The server action was not saved" />}</Show>
      <Show when={s()} fallback={<p class="muted">The agent has not reported show stat yet.</p>}>
        {table('Frontends', s()!.frontends, 'frontend')}
        {table('Backends', s()!.backends, 'backend')}
        {table('Servers', s()!.servers, 'server')}
      </Show>
      <ConfirmDialog
        open={pending() !== undefined}
        title="Change a server"
        confirmLabel={busy() ? 'Saving…' : 'Confirm'}
        busy={busy()}
        danger={pending() !== undefined && !('weight' in pending()!.change) && (pending()!.change as { state: string }).state !== 'ready'}
        onCancel={() => setPending(undefined)}
        onConfirm={() => void confirm()}
      >
        <Show when={pending()}>
          {(p) => (
            <>
              <p>{describeChange('weight' in p().change ? { weight: weight() } : p().change, p().backend, p().server, props.i.metadata.name!)}</p>
              <Show when={'weight' in p().change}>
                <label>
                  Weight (0–256)
                  <input type="number" min="0" max="256" value={weight()} onInput={(e) => setWeight(Number(e.currentTarget.value))} />
                </label>
              </Show>
              <p class="muted">This is written to the instance's <code>spec.servers</code>: it survives reloads until changed.</p>
            </>
          )}
        </Show>
      </ConfirmDialog>
    </section>
  );
}
