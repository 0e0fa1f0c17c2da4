/**
 * One HAProxyConfig: edit its text (CodeMirror, HAProxy highlighting and completion), see the
 * server's and the agents' errors at their lines, save it as a new revision, watch the rollout,
 * compare any two revisions side by side and roll back to one.
 */
import type { ConfigRevision, HAProxyConfig, HAProxyInstance } from '@haproxyhq/schemas';
import { CONFIG_LABEL } from '@haproxyhq/schemas/labels';
import { findTcpRuntimeSockets } from '@haproxyhq/schemas/runtime-sockets';
import { A, useBeforeLeave, useParams } from '@solidjs/router';
import { For, Show, createEffect, createMemo, createSignal, on } from 'solid-js';
import { ApiError, collectionPath } from '../api/client.ts';
import { rollBack, saveConfigText, setPaused } from '../api/configs.ts';
import { createWatchedList } from '../api/watched-list.ts';
import Age from '../components/Age.tsx';
import ConditionBadge from '../components/ConditionBadge.tsx';
import ConfirmDialog from '../components/ConfirmDialog.tsx';
import ConnectionState from '../components/ConnectionState.tsx';
import ErrorMessage from '../components/ErrorMessage.tsx';
import RolloutBadge from '../components/RolloutBadge.tsx';
import ConfigEditor from '../editor/ConfigEditor.tsx';
import RevisionDiff from '../editor/RevisionDiff.tsx';
import { diagnosticsFromApplyErrors, diagnosticsFromStatus, type ConfigDiagnostic } from '../editor/diagnostics.ts';
import { conditionOf } from '../lib/health.ts';
import { selectorToString } from '../lib/selector.ts';

export default function ConfigPage() {
  const params = useParams<{ namespace: string; name: string }>();
  return (
    <Show when={`${params.namespace}/${params.name}`} keyed>
      <ConfigView namespace={params.namespace} name={params.name} />
    </Show>
  );
}

function ConfigView(props: { namespace: string; name: string }) {
  const configs = createWatchedList<HAProxyConfig>({ path: collectionPath('haproxyconfigs', props.namespace), fieldSelector: `metadata.name=${props.name}` });
  const revisions = createWatchedList<ConfigRevision>({ path: collectionPath('configrevisions', props.namespace), labelSelector: `${CONFIG_LABEL}=${props.name}` });
  const config = () => configs.get(`${props.namespace}/${props.name}`);
  const history = createMemo(() => [...revisions.items()].sort((a, b) => b.spec.revision - a.spec.revision));

  return (
    <div class="page">
      <nav class="crumbs" aria-label="Breadcrumb"><A href="/configs">Configs</A> / {props.namespace} / <span aria-current="page">{props.name}</span></nav>
      <div class="page-head">
        <h1>{props.name}</h1>
        <Show when={config()}>{(c) => <RolloutBadge config={c()} />}</Show>
        <ConnectionState state={configs.state()} error={configs.error()} />
      </div>
      <Show when={configs.loaded()} fallback={<p class="muted">Loading…</p>}>
        <Show when={config()} fallback={<ErrorMessage error={new Error(`haproxyconfigs "${props.name}" not found in namespace ${props.namespace}`)} title="Not found" />}>
          {(c) => (
            <>
              <Show when={selectorToString(c().spec.instanceSelector)} keyed fallback={<Rollout config={c()} selector="" />}>
                {(sel) => <Rollout config={c()} selector={sel} />}
              </Show>
              <Editor config={c()} latest={history()[0]} />
              <History config={c()} revisions={history()} />
            </>
          )}
        </Show>
      </Show>
    </div>
  );
}

/** The editor with its save flow; `latest` is the newest revision (its agents' errors show at their lines). */
function Editor(props: { config: HAProxyConfig; latest: ConfigRevision | undefined }) {
  const [draft, setDraft] = createSignal(props.config.spec.config);
  // The version the edit started from: saving is conditioned on it.
  const [base, setBase] = createSignal({ text: props.config.spec.config, rv: props.config.metadata.resourceVersion! });
  const [saving, setSaving] = createSignal(false);
  const [saveError, setSaveError] = createSignal<ApiError | Error>();
  const [saved, setSaved] = createSignal<string>();
  const dirty = () => draft() !== base().text;
  const changedUnderneath = () => props.config.spec.config !== base().text;
  const instances = createWatchedList<HAProxyInstance>({ path: collectionPath('haproxyinstances', props.config.metadata.namespace) });

  // While nothing is edited, follow the server (a rollback, another person's save).
  createEffect(on(() => props.config.metadata.resourceVersion, () => {
    if (!dirty()) {
      setBase({ text: props.config.spec.config, rv: props.config.metadata.resourceVersion! });
      setDraft(props.config.spec.config);
    }
  }, { defer: true }));

  useBeforeLeave((e) => {
    if (dirty() && !e.defaultPrevented && !window.confirm('Leave without saving your changes to the config?')) e.preventDefault();
  });

  const applyErrors = createMemo(() => {
    const rev = props.latest?.metadata.name;
    if (!rev) return [];
    return instances
      .items()
      .filter((i) => i.status?.lastApplyError?.revision === rev)
      .map((i) => ({ instance: i.metadata.name!, error: i.status!.lastApplyError! }));
  });
  const haproxyVersion = createMemo(() => instances.items().find((i) => i.status?.haproxy?.version)?.status?.haproxy?.version);
  const diagnostics = createMemo<ConfigDiagnostic[]>(() => {
    const e = saveError();
    const fromServer = e instanceof ApiError && e.status ? diagnosticsFromStatus(e.status, { source: 'api-server' }) : [];
    // Agents' errors are about the text of the latest revision: show them only while it is what the editor holds.
    const fromAgents = props.latest && draft() === props.latest.spec.config.config ? diagnosticsFromApplyErrors(applyErrors()) : [];
    // Refused by the server anyway; said at the line while typing.
    const exposed = findTcpRuntimeSockets(draft()).map((x): ConfigDiagnostic => ({ line: x.line, severity: 'error', message: x.message, source: 'HAProxyHQ policy', tokens: [x.address] }));
    return [...fromServer, ...fromAgents, ...exposed];
  });

  const save = async () => {
    setSaving(true);
    setSaveError(undefined);
    setSaved(undefined);
    try {
      const updated = await saveConfigText(props.config.metadata.namespace!, props.config.metadata.name!, base().rv, draft());
      setBase({ text: updated.spec.config, rv: updated.metadata.resourceVersion! });
      setSaved(updated.metadata.generation === props.config.metadata.generation ? 'Nothing changed.' : `Saved as generation ${updated.metadata.generation}: a new revision is rolling out.`);
    } catch (err) {
      setSaveError(err as Error);
    } finally {
      setSaving(false);
    }
  };

  return (
    <section aria-labelledby="editor-h" class="editor-section">
      <div class="section-head">
        <h2 id="editor-h">haproxy.cfg{props.config.spec.template ? ' (template)' : ''}</h2>
        <div class="toolbar">
          <Show when={dirty()}><span class="tag" data-testid="unsaved">unsaved changes</span></Show>
          <button type="button" onClick={() => { setDraft(base().text); setSaveError(undefined); }} disabled={!dirty() || saving()}>Discard</button>
          <button type="button" class="primary" onClick={() => void save()} disabled={!dirty() || saving()} data-testid="save-config">
            {saving() ? 'Saving…' : 'Save new revision'}
          </button>
        </div>
      </div>
      <Show when={dirty() && changedUnderneath()}>
        <p class="notice" role="status">Someone saved this config since you started editing. Saving now will be refused; discard to load theirs, or copy your changes first.</p>
      </Show>
      <Show when={saveError()}>
        {(e) => (
          <ErrorMessage
            error={e()}
            title={e() instanceof ApiError && (e() as ApiError).code === 409 ? 'Not saved: the config changed on the server' : 'Not saved'}
          />
        )}
      </Show>
      <Show when={saved()}>{(s) => <p class="notice" role="status">{s()}</p>}</Show>
      <Show when={applyErrors().length > 0}>
        <div class="error" role="alert" data-testid="agent-errors">
          <strong>Revision {props.latest!.metadata.name} failed on {applyErrors().length} instance{applyErrors().length === 1 ? '' : 's'}</strong>
          <For each={applyErrors()}>
            {(a) => <div class="error-message"><A href={`/instances/${encodeURIComponent(props.config.metadata.namespace!)}/${encodeURIComponent(a.instance)}`}>{a.instance}</A>{a.error.line ? ` (line ${a.error.line})` : ''}: {a.error.message}</div>}
          </For>
        </div>
      </Show>
      <ConfigEditor value={draft()} haproxyVersion={haproxyVersion()} diagnostics={diagnostics()} onChange={setDraft} label={`haproxy.cfg of ${props.config.metadata.name}`} />
    </section>
  );
}

function Rollout(props: { config: HAProxyConfig; selector: string }) {
  const instances = createWatchedList<HAProxyInstance>({ path: collectionPath('haproxyinstances', props.config.metadata.namespace), labelSelector: props.selector || undefined });
  const s = () => props.config.status;
  const [busy, setBusy] = createSignal(false);
  const [error, setError] = createSignal<unknown>();
  const togglePause = async () => {
    setBusy(true);
    setError(undefined);
    try {
      await setPaused(props.config.metadata.namespace!, props.config.metadata.name!, !props.config.spec.paused);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const total = () => s()?.instances ?? 0;
  const pct = (n: number | undefined) => (total() ? Math.round(((n ?? 0) * 100) / total()) : 0);
  return (
    <section aria-labelledby="rollout-h" data-testid="rollout">
      <div class="section-head">
        <h2 id="rollout-h">Rollout of <code>{s()?.latestRevision ?? '—'}</code></h2>
        <div class="toolbar">
          <span class="muted">{props.config.spec.strategy?.type ?? 'AllAtOnce'}{props.config.spec.strategy?.type === 'Rolling' ? `, canary ${props.config.spec.strategy.canary ?? 1}, max unavailable ${props.config.spec.strategy.maxUnavailable ?? '25%'}` : ''}</span>
          <button type="button" onClick={() => void togglePause()} disabled={busy()}>{props.config.spec.paused ? 'Resume rollout' : 'Pause rollout'}</button>
        </div>
      </div>
      <Show when={error()}>{(e) => <ErrorMessage error={e()} />}</Show>
      <div class="progress" role="group" aria-label="Rollout progress">
        <div class="progress-bar" role="progressbar" aria-label="Ready on the latest revision" aria-valuemin="0" aria-valuemax={total()} aria-valuenow={s()?.ready ?? 0}>
          <span class="progress-ready" style={{ width: `${pct(s()?.ready)}%` }} />
          <span class="progress-failed" style={{ width: `${pct(s()?.failed)}%` }} />
        </div>
        <p data-testid="rollout-counts">
          {s()?.ready ?? 0} of {total()} ready on the latest revision · {s()?.updated ?? 0} updated · {s()?.failed ?? 0} failed
          {s()?.pausedInstances ? ` · ${s()!.pausedInstances} paused` : ''}
        </p>
      </div>
      <For each={(props.config.status?.conditions ?? []).filter((c) => c.status === 'True')}>
        {(c) => <p class={c.type === 'Halted' || c.type === 'Conflict' ? 'error' : 'muted'} role={c.type === 'Halted' ? 'alert' : undefined}><strong>{c.type}</strong> {c.reason}: {c.message}</p>}
      </For>
      <Show when={instances.items().length > 0}>
        <details open={instances.items().length <= 20}>
          <summary>{instances.items().length} matching instance{instances.items().length === 1 ? '' : 's'}</summary>
          <div class="table-wrap">
            <table data-testid="rollout-instances">
              <thead><tr><th scope="col">Instance</th><th scope="col">Should run</th><th scope="col">Runs</th><th scope="col">Applied</th><th scope="col">Ready</th></tr></thead>
              <tbody>
                <For each={instances.items()}>
                  {(i) => (
                    <tr>
                      <th scope="row"><A href={`/instances/${encodeURIComponent(i.metadata.namespace!)}/${encodeURIComponent(i.metadata.name!)}`}>{i.metadata.name}</A></th>
                      <td><code>{i.spec?.configRevision ?? '—'}</code></td>
                      <td><code>{i.status?.appliedRevision ?? '—'}</code></td>
                      <td><ConditionBadge type="ConfigApplied" condition={conditionOf(i, 'ConfigApplied')} /></td>
                      <td><ConditionBadge type="Ready" condition={conditionOf(i, 'Ready')} /></td>
                    </tr>
                  )}
                </For>
              </tbody>
            </table>
          </div>
        </details>
      </Show>
    </section>
  );
}

function History(props: { config: HAProxyConfig; revisions: ConfigRevision[] }) {
  const [left, setLeft] = createSignal<string>();
  const [right, setRight] = createSignal<string>();
  const [target, setTarget] = createSignal<ConfigRevision>();
  const [busy, setBusy] = createSignal(false);
  const [error, setError] = createSignal<unknown>();
  const [notice, setNotice] = createSignal<string>();
  // Default comparison: the newest against the one before it.
  const a = () => props.revisions.find((r) => r.metadata.name === left()) ?? props.revisions[1];
  const b = () => props.revisions.find((r) => r.metadata.name === right()) ?? props.revisions[0];
  const current = () => props.config.status?.latestRevision;

  const confirmRollback = async () => {
    const rev = target();
    if (!rev) return;
    setBusy(true);
    setError(undefined);
    try {
      const updated = await rollBack(props.config.metadata.namespace!, props.config.metadata.name!, rev);
      setNotice(`Rolled back to revision ${rev.spec.revision} (${rev.metadata.name}): generation ${updated.metadata.generation} runs its content.`);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
      setTarget(undefined);
    }
  };

  return (
    <section aria-labelledby="history-h">
      <h2 id="history-h">Revision history</h2>
      <Show when={notice()}>{(n) => <p class="notice" role="status">{n()}</p>}</Show>
      <Show when={error()}>{(e) => <ErrorMessage error={e()} title="Not rolled back" />}</Show>
      <div class="table-wrap">
        <table data-testid="revisions">
          <thead><tr><th scope="col">Revision</th><th scope="col">Name</th><th scope="col">Created</th><th scope="col">Hash</th><th scope="col">Compare</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead>
          <tbody>
            <For each={props.revisions}>
              {(r) => (
                <tr data-revision={r.metadata.name}>
                  <th scope="row">{r.spec.revision}{r.metadata.name === current() ? <span class="tag">latest</span> : null}</th>
                  <td><code>{r.metadata.name}</code></td>
                  <td><Age time={r.metadata.creationTimestamp} /> ago</td>
                  <td><code class="hash">{r.spec.contentHash.slice(7, 19)}</code></td>
                  <td class="compare">
                    <label><input type="radio" name="diff-left" checked={a()?.metadata.name === r.metadata.name} onChange={() => setLeft(r.metadata.name)} /> <span class="sr-only">Compare from {r.metadata.name}</span>A</label>
                    <label><input type="radio" name="diff-right" checked={b()?.metadata.name === r.metadata.name} onChange={() => setRight(r.metadata.name)} /> <span class="sr-only">Compare to {r.metadata.name}</span>B</label>
                  </td>
                  <td>
                    <button type="button" disabled={r.spec.contentHash === props.revisions[0]?.spec.contentHash} onClick={() => setTarget(r)} aria-label={`Roll back to revision ${r.spec.revision}`}>
                      Roll back to this
                    </button>
                  </td>
                </tr>
              )}
            </For>
          </tbody>
        </table>
      </div>
      <Show when={a() && b() && a() !== b()} fallback={<p class="muted">Pick two different revisions (A and B) to compare.</p>}>
        <h3>
          <code>{a()!.metadata.name}</code> → <code>{b()!.metadata.name}</code>
        </h3>
        <RevisionDiff a={a()!.spec.config.config} b={b()!.spec.config.config} aLabel={a()!.metadata.name!} bLabel={b()!.metadata.name!} />
      </Show>
      <ConfirmDialog
        open={target() !== undefined}
        title="Roll back"
        confirmLabel={busy() ? 'Rolling back…' : 'Roll back'}
        busy={busy()}
        danger
        onCancel={() => setTarget(undefined)}
        onConfirm={() => void confirmRollback()}
      >
        <p>
          Make <strong>{props.config.metadata.name}</strong> run the content of revision {target()?.spec.revision} (<code>{target()?.metadata.name}</code>) again. It
          becomes a new revision and rolls out by the config's strategy.
        </p>
      </ConfirmDialog>
    </section>
  );
}
