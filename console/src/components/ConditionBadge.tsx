import type { Condition } from '@haproxyhq/schemas';
import { toneOf } from '../lib/health.ts';

/** A condition as a coloured word; the tone is also in the text, never colour alone. */
export default function ConditionBadge(props: { type: string; condition: Condition | undefined; label?: string }) {
  const tone = () => toneOf(props.type, props.condition);
  const text = () => props.condition?.status ?? 'Unknown';
  const title = () =>
    props.condition ? `${props.type}=${props.condition.status}${props.condition.reason ? ` (${props.condition.reason})` : ''}${props.condition.message ? `: ${props.condition.message}` : ''}` : `${props.type}: not reported`;
  return (
    <span class={`badge badge-${tone()}`} title={title()} data-condition={props.type} data-status={text()}>
      <span class="badge-dot" aria-hidden="true" />
      {props.label ? `${props.label} ` : ''}
      {text()}
    </span>
  );
}
