/**
 * The audit log: who changed what, when, from where, and how it ended; newest first, filtered on
 * the server by user, namespace, resource and name, older records a page at a time. The log has no
 * watch: Refresh reads the newest again (the console never polls).
 */
import type { AuditEvent, AuditEventList } from '@haproxyhq/schemas';
import { For, Show, createSignal, onMount } from 'solid-js';
import { GROUP_PATH, api, query } from '../api/client.ts';
import Age from '../components/Age.tsx';
import ErrorMessage from '../components/ErrorMessage.tsx';
import { outcome, target, versions } from '../lib/audit.ts';

const PAGE_SIZE = 50;
const RESOURCES = ['haproxyinstances', 'haproxyconfigs', 'configrevisions', 'events', 'leases', 'roles', 'rolebindings', 'clusterroles', 'clusterrolebindings'];

export default function AuditPage() {
  const [user, setUser] = createSignal('');
  const [namespace, setNamespace] = createSignal('');
  const [resource, setResource] = createSignal('');
  const [name, setName] = createSignal('');
  const [items, setItems] = createSignal<AuditEvent[]>([]);
  const [next, setNext] = createSignal<string>();
  const [loading, setLoading] = createSignal(false);
  const [loaded, setLoaded] = createSignal(false);
  const [error, setError] = createSignal<unknown>();
  /** The filters of the pages shown: "Older records" continues with them, not with edits since. */
  let applied: Record<string, string> = {};

  /** The first page for the current filters, or (more) the page after the last one shown. */
  const load = async (more: boolean) => {
    setLoading(true);
    setError(undefined);
    if (!more) applied = { user: user().trim(), namespace: namespace().trim(), resource: resource(), name: name().trim() };
    try {
      const list = await api<AuditEventList>(`${GROUP_PATH}/auditevents${query({ limit: PAGE_SIZE, ...applied, continue: more ? next() : undefined })}`);
      setItems(more ? [...items(), ...list.items] : list.items);
      setNext(list.metadata.continue);
      setLoaded(true);
    } catch (err) {
      setError(err);
    } finally {
      setLoading(false);
    }
  };
  onMount(() => void load(false));

  const submit = (e: SubmitEvent) => {
    e.preventDefault();
    void load(false);
  };

  return (
    <div class="page">
      <div class="page-head">
        <h1>Audit log</h1>
        <button type="button" onClick={() => void load(false)} disabled={loading()}>Refresh</button>
      </div>
      <p class="muted">Every write to the API and every refused one, newest first. The server's own writers appear as system:controller:…</p>

      <form class="filters" onSubmit={submit} aria-label="Filter the audit log">
        <label>
          User
          <input type="text" value={user()} onInput={(e) => setUser(e.currentTarget.value)} placeholder="any user" />
        </label>
        <label>
          Namespace
          <input type="text" value={namespace()} onInput={(e) => setNamespace(e.currentTarget.value)} placeholder="every namespace" />
        </label>
        <label>
          Resource
          <select value={resource()} onChange={(e) => setResource(e.currentTarget.value)}>
            <option value="">any resource</option>
            <For each={RESOURCES}>{(r) => <option value={r}>{r}</option>}</For>
          </select>
        </label>
        <label>
          Name
          <input type="text" value={name()} onInput={(e) => setName(e.currentTarget.value)} placeholder="any object" />
        </label>
        <button type="submit" class="primary" disabled={loading()}>Show</button>
      </form>

      <Show when={error()}>{(e) => <ErrorMessage error={e()} title="The audit log cannot be read" />}</Show>

      <div class="table-wrap">
        <table data-testid="audit">
          <thead>
            <tr>
              <th scope="col">When</th>
              <th scope="col">User</th>
              <th scope="col">Verb</th>
              <th scope="col">Resource</th>
              <th scope="col">Namespace</th>
              <th scope="col">Name</th>
              <th scope="col">Version</th>
              <th scope="col">Result</th>
              <th scope="col">Source</th>
            </tr>
          </thead>
          <tbody>
            <For each={items()}>
              {(e) => (
                <tr data-audit-id={e.metadata.name}>
                  <td><Age time={e.time} /></td>
                  <td title={e.user.groups.join(', ')}>{e.user.name}</td>
                  <td>{e.verb}{e.dryRun ? ' (dry run)' : ''}</td>
                  <td>{target(e)}</td>
                  <td>{e.namespace || '—'}</td>
                  <td>{e.name || '—'}</td>
                  <td>{versions(e)}</td>
                  <td><span classList={{ badge: e.code >= 400, 'badge-bad': e.code >= 400 }}>{outcome(e)}</span></td>
                  <td title={e.userAgent ?? ''}>{e.sourceIP ?? 'server'}</td>
                </tr>
              )}
            </For>
          </tbody>
        </table>
      </div>
      <Show when={loaded() && items().length === 0 && !error()}>
        <p class="muted">No records match.</p>
      </Show>
      <Show when={next()}>
        <button type="button" onClick={() => void load(true)} disabled={loading()}>Older records</button>
      </Show>
      <Show when={loading()}><p class="muted" role="status">Loading…</p></Show>
    </div>
  );
}
