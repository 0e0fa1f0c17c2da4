/** Every HAProxyConfig with its rollout at a glance. */
import type { HAProxyConfig } from '@haproxyhq/schemas';
import { A } from '@solidjs/router';
import { For, Show } from 'solid-js';
import { collectionPath } from '../api/client.ts';
import { createWatchedList } from '../api/watched-list.ts';
import Age from '../components/Age.tsx';
import ConnectionState from '../components/ConnectionState.tsx';
import ErrorMessage from '../components/ErrorMessage.tsx';
import { selectorToString } from '../lib/selector.ts';
import RolloutBadge from '../components/RolloutBadge.tsx';

export default function ConfigsPage() {
  const configs = createWatchedList<HAProxyConfig>({ path: collectionPath('haproxyconfigs') });
  return (
    <div class="page">
      <div class="page-head">
        <h1>Configs</h1>
        <ConnectionState state={configs.state()} error={configs.error()} />
      </div>
      <Show when={configs.state() === 'failed' && configs.error()}>{(e) => <ErrorMessage error={e()} />}</Show>
      <Show when={configs.loaded()} fallback={<p class="muted">Loading…</p>}>
        <Show when={configs.items().length > 0} fallback={<p class="empty">No configs yet. Apply one: <code>hqctl apply -f manifests/examples/</code>.</p>}>
          <div class="table-wrap">
            <table data-testid="configs-table">
              <thead>
                <tr>
                  <th scope="col">Name</th><th scope="col">Namespace</th><th scope="col">Rollout</th><th scope="col">Latest</th>
                  <th scope="col">Ready / matched</th><th scope="col">Strategy</th><th scope="col">Selector</th><th scope="col">Age</th>
                </tr>
              </thead>
              <tbody>
                <For each={configs.items()}>
                  {(c) => (
                    <tr>
                      <th scope="row"><A href={`/configs/${encodeURIComponent(c.metadata.namespace!)}/${encodeURIComponent(c.metadata.name!)}`}>{c.metadata.name}</A></th>
                      <td>{c.metadata.namespace}</td>
                      <td><RolloutBadge config={c} /></td>
                      <td><code>{c.status?.latestRevision ?? '—'}</code></td>
                      <td>{c.status?.ready ?? 0} / {c.status?.instances ?? 0}</td>
                      <td>{c.spec.strategy?.type ?? 'AllAtOnce'}</td>
                      <td><code>{selectorToString(c.spec.instanceSelector) || '(all in namespace)'}</code></td>
                      <td><Age time={c.metadata.creationTimestamp} /></td>
                    </tr>
                  )}
                </For>
              </tbody>
            </table>
          </div>
        </Show>
      </Show>
    </div>
  );
}
