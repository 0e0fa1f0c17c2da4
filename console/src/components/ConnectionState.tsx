import { Show } from 'solid-js';
import type { ApiError } from '../api/client.ts';
import type { WatchState } from '../api/watch.ts';

const TEXT: Record<WatchState, string> = {
  connecting: 'Connecting…',
  live: 'Live',
  reconnecting: 'Reconnecting…',
  stale: 'Stale: not updating',
  failed: 'Stopped',
};

/** Whether what is on screen is live: announced politely to screen readers when it changes. */
export default function ConnectionState(props: { state: WatchState; error?: ApiError | undefined }) {
  return (
    <span class={`conn conn-${props.state}`} role="status" aria-live="polite" data-testid="connection-state" data-state={props.state}>
      <span class="badge-dot" aria-hidden="true" />
      {TEXT[props.state]}
      <Show when={props.state !== 'live' && props.error}>{(e) => <span class="conn-detail"> ({e().message})</span>}</Show>
    </span>
  );
}
