import { For, Show } from 'solid-js';
import { ApiError } from '../api/client.ts';

/** A failed call as the server said it: its Status message and, for invalid input, each cause. */
export default function ErrorMessage(props: { error: unknown; title?: string }) {
  const err = () => props.error;
  const message = () => (err() instanceof Error ? (err() as Error).message : String(err()));
  const causes = () => (err() instanceof ApiError ? ((err() as ApiError).status?.details?.causes ?? []) : []);
  const reason = () => (err() instanceof ApiError ? `${(err() as ApiError).reason} (${(err() as ApiError).code})` : undefined);
  return (
    <div class="error" role="alert">
      <strong>{props.title ?? 'Error'}</strong>
      <Show when={reason()}>{(r) => <span class="muted"> {r()}</span>}</Show>
      <div class="error-message">{message()}</div>
      <Show when={causes().length > 0}>
        <ul>
          <For each={causes()}>{(c) => <li><code>{c.field}</code>: {c.message}</li>}</For>
        </ul>
      </Show>
    </div>
  );
}
