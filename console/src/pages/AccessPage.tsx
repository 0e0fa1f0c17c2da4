/**
 * Who may do what: the roles (built-in and custom) and every binding, cluster-wide and per
 * namespace, live; grant a role to a user or group, in one namespace or everywhere; revoke a
 * binding after a confirmation. What the server refuses (403 for non-admins) is shown as it said it.
 */
import type { ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding } from '@haproxyhq/schemas';
import { For, Show, createMemo, createSignal } from 'solid-js';
import { GROUP_PATH, api, collectionPath, objectPath } from '../api/client.ts';
import { createWatchedList } from '../api/watched-list.ts';
import Age from '../components/Age.tsx';
import ConfirmDialog from '../components/ConfirmDialog.tsx';
import ConnectionState from '../components/ConnectionState.tsx';
import ErrorMessage from '../components/ErrorMessage.tsx';

type Binding = (RoleBinding | ClusterRoleBinding) & { kind?: string };

const ruleText = (r: PolicyRule) => `${r.verbs.join(', ')} on ${r.resources.join(', ')}${r.resourceNames?.length ? ` named ${r.resourceNames.join(', ')}` : ''}`;

/** A binding name from role and subject: DNS-1123, as metadata.name requires. */
export const bindingName = (role: string, subject: string) =>
  `${role}-${subject}`.toLowerCase().replace(/[^a-z0-9.-]+/g, '-').replace(/^[^a-z0-9]+|[^a-z0-9]+$/g, '').slice(0, 253) || 'binding';

export default function AccessPage() {
  const clusterRoles = createWatchedList<ClusterRole>({ path: `${GROUP_PATH}/clusterroles` });
  const roles = createWatchedList<Role>({ path: collectionPath('roles') });
  const clusterBindings = createWatchedList<ClusterRoleBinding>({ path: `${GROUP_PATH}/clusterrolebindings` });
  const bindings = createWatchedList<RoleBinding>({ path: collectionPath('rolebindings') });
  const failed = () => [clusterRoles, roles, clusterBindings, bindings].map((l) => (l.state() === 'failed' ? l.error() : undefined)).find(Boolean);

  const [subjectKind, setSubjectKind] = createSignal<'User' | 'Group'>('User');
  const [subject, setSubject] = createSignal('');
  const [role, setRole] = createSignal('viewer');
  const [namespace, setNamespace] = createSignal('');
  const [busy, setBusy] = createSignal(false);
  const [error, setError] = createSignal<unknown>();
  const [notice, setNotice] = createSignal<string>();
  const [revoking, setRevoking] = createSignal<Binding>();

  const roleChoices = createMemo(() => [
    ...clusterRoles.items().map((r) => ({ kind: 'ClusterRole' as const, name: r.metadata.name!, label: r.metadata.name! })),
    ...roles.items().filter((r) => r.metadata.namespace === namespace()).map((r) => ({ kind: 'Role' as const, name: r.metadata.name!, label: `${r.metadata.name} (role in ${r.metadata.namespace})` })),
  ]);

  const grant = async (e: SubmitEvent) => {
    e.preventDefault();
    setError(undefined);
    setNotice(undefined);
    const who = subject().trim();
    if (!who) return setError(new Error('Enter the user or group to give the role to.'));
    const choice = roleChoices().find((c) => `${c.kind}/${c.name}` === role()) ?? { kind: 'ClusterRole' as const, name: role() };
    const ns = namespace().trim();
    const body = {
      apiVersion: 'haproxyhq.io/v1alpha1',
      kind: ns ? 'RoleBinding' : 'ClusterRoleBinding',
      metadata: { name: bindingName(choice.name, who) },
      roleRef: { kind: choice.kind, name: choice.name },
      subjects: [{ kind: subjectKind(), name: who }],
    };
    setBusy(true);
    try {
      await api(ns ? collectionPath('rolebindings', ns) : `${GROUP_PATH}/clusterrolebindings`, { method: 'POST', body });
      setNotice(`${subjectKind()} ${who} is ${choice.name} ${ns ? `in namespace ${ns}` : 'in every namespace'}.`);
      setSubject('');
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  const revoke = async () => {
    const b = revoking();
    if (!b) return;
    setBusy(true);
    setError(undefined);
    try {
      await api(b.metadata.namespace ? objectPath('rolebindings', b.metadata.namespace, b.metadata.name!) : `${GROUP_PATH}/clusterrolebindings/${encodeURIComponent(b.metadata.name!)}`, { method: 'DELETE' });
      setNotice(`Binding ${b.metadata.name} removed.`);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
      setRevoking(undefined);
    }
  };

  const allBindings = createMemo<Binding[]>(() => [...clusterBindings.items(), ...bindings.items()]);

  return (
    <div class="page">
      <div class="page-head">
        <h1>Access</h1>
        <ConnectionState state={clusterBindings.state()} error={clusterBindings.error()} />
      </div>
      <Show when={failed()}>{(e) => <ErrorMessage error={e()} title="Roles and bindings cannot be read" />}</Show>

      <section aria-labelledby="grant-h">
        <h2 id="grant-h">Give a role</h2>
        <form class="filters" onSubmit={grant}>
          <label>
            To a
            <select value={subjectKind()} onChange={(e) => setSubjectKind(e.currentTarget.value as 'User' | 'Group')}>
              <option value="User">User</option>
              <option value="Group">Group</option>
            </select>
          </label>
          <label>
            Named
            <input type="text" value={subject()} onInput={(e) => setSubject(e.currentTarget.value)} placeholder="alice or team-a" required />
          </label>
          <label>
            Role
            <select value={role()} onChange={(e) => setRole(e.currentTarget.value)}>
              <For each={roleChoices()}>{(c) => <option value={c.kind === 'ClusterRole' ? c.name : `${c.kind}/${c.name}`}>{c.label}</option>}</For>
            </select>
          </label>
          <label>
            In namespace
            <input type="text" value={namespace()} onInput={(e) => setNamespace(e.currentTarget.value)} placeholder="empty: every namespace" />
          </label>
          <button type="submit" class="primary" disabled={busy()}>Give role</button>
        </form>
        <Show when={notice()}>{(n) => <p class="notice" role="status">{n()}</p>}</Show>
        <Show when={error()}>{(e) => <ErrorMessage error={e()} title="Not changed" />}</Show>
      </section>

      <section aria-labelledby="bindings-h">
        <h2 id="bindings-h">Bindings</h2>
        <div class="table-wrap">
          <table data-testid="bindings">
            <thead><tr><th scope="col">Name</th><th scope="col">Where</th><th scope="col">Role</th><th scope="col">Who</th><th scope="col">Age</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead>
            <tbody>
              <For each={allBindings()}>
                {(b) => (
                  <tr data-binding={b.metadata.name}>
                    <th scope="row">{b.metadata.name}</th>
                    <td>{b.metadata.namespace ?? 'every namespace'}</td>
                    <td>{b.roleRef.kind === 'Role' ? `${b.roleRef.name} (role)` : b.roleRef.name}</td>
                    <td>{b.subjects.map((s) => `${s.kind} ${s.name}`).join(', ')}</td>
                    <td><Age time={b.metadata.creationTimestamp} /></td>
                    <td><button type="button" onClick={() => setRevoking(b)} aria-label={`Remove binding ${b.metadata.name}`}>Remove</button></td>
                  </tr>
                )}
              </For>
            </tbody>
          </table>
        </div>
        <Show when={allBindings().length === 0}><p class="muted">No bindings: only the first admin token (group system:masters) can do anything.</p></Show>
      </section>

      <section aria-labelledby="roles-h">
        <h2 id="roles-h">Roles</h2>
        <div class="table-wrap">
          <table data-testid="roles">
            <thead><tr><th scope="col">Name</th><th scope="col">Where</th><th scope="col">Allows</th></tr></thead>
            <tbody>
              <For each={[...clusterRoles.items(), ...roles.items()]}>
                {(r) => (
                  <tr>
                    <th scope="row">{r.metadata.name}{r.metadata.labels?.['haproxyhq.io/bootstrapping'] ? <span class="tag">built-in</span> : null}</th>
                    <td>{r.metadata.namespace ?? 'cluster-wide'}</td>
                    <td><ul class="rules"><For each={r.rules}>{(rule) => <li>{ruleText(rule)}</li>}</For></ul></td>
                  </tr>
                )}
              </For>
            </tbody>
          </table>
        </div>
      </section>

      <ConfirmDialog open={revoking() !== undefined} title="Remove a binding" confirmLabel="Remove" danger busy={busy()} onCancel={() => setRevoking(undefined)} onConfirm={() => void revoke()}>
        <p>
          Remove <strong>{revoking()?.metadata.name}</strong>: {revoking()?.subjects.map((s) => `${s.kind} ${s.name}`).join(', ')} lose{revoking()?.subjects.length === 1 ? 's' : ''} the role {revoking()?.roleRef.name}{' '}
          {revoking()?.metadata.namespace ? `in ${revoking()!.metadata.namespace}` : 'everywhere'}.
        </p>
      </ConfirmDialog>
    </div>
  );
}
