import type { HAProxyConfig } from '@haproxyhq/schemas';
import { conditionOf } from '../lib/health.ts';

/** Where a config's rollout stands, in one word, from its conditions (Halted, Conflict, Complete, Progressing). */
export function rolloutState(c: HAProxyConfig): { word: string; tone: 'good' | 'bad' | 'unknown' | 'warn'; detail: string } {
  const halted = conditionOf(c, 'Halted');
  if (halted?.status === 'True') return { word: 'Halted', tone: 'bad', detail: `${halted.reason ?? ''}: ${halted.message ?? ''}` };
  const conflict = conditionOf(c, 'Conflict');
  if (conflict?.status === 'True') return { word: 'Conflict', tone: 'bad', detail: conflict.message ?? '' };
  if (c.spec.paused) return { word: 'Paused', tone: 'warn', detail: 'spec.paused is true: new revisions are not rolled out' };
  const complete = conditionOf(c, 'Complete');
  if (complete?.status === 'True') return { word: 'Complete', tone: 'good', detail: complete.message ?? '' };
  const progressing = conditionOf(c, 'Progressing');
  if (progressing?.status === 'True') return { word: 'Progressing', tone: 'unknown', detail: progressing.message ?? '' };
  return { word: 'Pending', tone: 'unknown', detail: 'the rollout controller has not reported yet' };
}

export default function RolloutBadge(props: { config: HAProxyConfig }) {
  const s = () => rolloutState(props.config);
  return (
    <span class={`badge badge-${s().tone}`} title={s().detail} data-testid="rollout-state" data-state={s().word}>
      <span class="badge-dot" aria-hidden="true" />
      {s().word}
    </span>
  );
}
