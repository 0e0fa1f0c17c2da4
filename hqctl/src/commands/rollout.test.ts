import type { ConfigRevision, HAProxyConfig } from '@haproxyhq/schemas';
import { describe, expect, it } from 'vitest';
import { pickRevision, rolloutState } from './rollout.ts';

function config(generation: number, status: HAProxyConfig['status'], paused = false): HAProxyConfig {
  return { metadata: { name: 'web', generation }, spec: { config: 'global\n', paused }, status };
}
const cond = (type: string, status: 'True' | 'False', reason = '', message = '') => ({ type, status, reason, message });

function revision(n: number, hash: string): ConfigRevision {
  return { metadata: { name: `web-${n}` }, spec: { configName: 'web', revision: n, contentHash: hash, config: { config: `v${n}` } } };
}

describe('rolloutState', () => {
  it('waits for the controller to observe the generation before believing conditions', () => {
    const s = rolloutState(config(3, { observedGeneration: 2, conditions: [cond('Complete', 'True')] }));
    expect(s).toEqual({ done: false, message: 'Waiting for rollout to finish: the controller has not seen generation 3 yet...' });
  });

  it('reports progress as kubectl does for Deployments', () => {
    expect(rolloutState(config(2, { observedGeneration: 2, instances: 3, updated: 1, ready: 0 })).message).toBe(
      'Waiting for rollout to finish: 1 out of 3 new instances have been updated...',
    );
    expect(rolloutState(config(2, { observedGeneration: 2, instances: 3, updated: 3, ready: 1 })).message).toBe(
      'Waiting for rollout to finish: 1 of 3 updated instances are ready...',
    );
  });

  it('is done on Complete=True and failed on Halted=True, with its reason and message', () => {
    expect(rolloutState(config(2, { observedGeneration: 2, conditions: [cond('Complete', 'True')] }))).toEqual({
      done: true,
      message: 'haproxyconfig "web" successfully rolled out',
    });
    expect(rolloutState(config(2, { observedGeneration: 2, conditions: [cond('Halted', 'True', 'CanaryFailed', 'edge-1: bad')] })).halted).toBe(
      'CanaryFailed: edge-1: bad',
    );
  });
});

describe('pickRevision', () => {
  const revs = [revision(1, 'sha256:a'), revision(2, 'sha256:b'), revision(3, 'sha256:b'), revision(4, 'sha256:c')];
  it('defaults to the newest older revision whose content differs from the current one', () => {
    expect(pickRevision(config(4, {}), revs, undefined).spec.revision).toBe(3);
    expect(pickRevision(config(3, {}), revs, undefined).spec.revision).toBe(1);
  });
  it('takes --to-revision, and says which revisions exist when it is missing', () => {
    expect(pickRevision(config(4, {}), revs, 2).spec.revision).toBe(2);
    expect(() => pickRevision(config(4, {}), revs, 9)).toThrow('unable to find the specified revision 9 of haproxyconfig "web" (history: 1, 2, 3, 4)');
  });
});
