import { humanDuration } from '@haproxyhq/schemas/duration';
import { now } from '../lib/now.ts';

/** "12s ago", kept current by the shared clock; the exact time in a tooltip. */
export default function Age(props: { time: string | undefined; staleAfterMs?: number }) {
  const ms = () => (props.time ? now() - Date.parse(props.time) : undefined);
  return (
    <time
      dateTime={props.time}
      title={props.time ? new Date(props.time).toLocaleString() : 'never'}
      classList={{ stale: props.staleAfterMs !== undefined && (ms() ?? Infinity) > props.staleAfterMs }}
    >
      {ms() === undefined || Number.isNaN(ms()) ? '—' : humanDuration(Math.max(0, ms()!))}
    </time>
  );
}
