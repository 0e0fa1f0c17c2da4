import { humanDuration } from '@haproxyhq/schemas/duration';
import { createMemo } from 'solid-js';
import { now } from '../lib/now.ts';

/** "12s ago", kept current by the shared clock; the exact time in a tooltip. */
export default function Age(props: { time: string | undefined; staleAfterMs?: number }) {
  // A fleet page has a thousand of these on one clock: parse once per time, subtract once per tick.
  const at = createMemo(() => (props.time ? Date.parse(props.time) : undefined));
  const ms = createMemo(() => {
    const t = at();
    return t === undefined ? undefined : now() - t;
  });
  // Memos: a tick re-reads no prop, and the DOM is written only when the text or the state changes.
  const text = createMemo(() => {
    const v = ms();
    return v === undefined || Number.isNaN(v) ? '—' : humanDuration(Math.max(0, v));
  });
  const after = createMemo(() => props.staleAfterMs);
  const stale = createMemo(() => {
    const a = after();
    return a !== undefined && (ms() ?? Infinity) > a;
  });
  return (
    <time dateTime={props.time} title={props.time ? new Date(props.time).toLocaleString() : 'never'} classList={{ stale: stale() }}>
      {text()}
    </time>
  );
}
