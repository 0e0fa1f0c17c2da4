/**
 * The real hq-agent process beside a test's HAProxy, with the timings end-to-end tests want
 * (changes coalesced for 100 ms, heartbeats and resyncs every 2 s); `args` add to or override them
 * (the agent takes the last of a repeated flag).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { HAProxyProcess } from '../../agent/test/support/haproxy.ts';

const MAIN = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'agent', 'src', 'main.ts');

export interface AgentOptions {
  kubeconfig: string;
  name: string;
  haproxy: Pick<HAProxyProcess, 'configPath' | 'masterSocket'>;
  stateDir: string;
  /** hq-agent run's --labels (k=v,...). */
  labels?: string;
  args?: string[];
  /** Everything the agent prints, stdout and stderr, as it comes. */
  onOutput(text: string): void;
}

export function spawnAgent(o: AgentOptions): ChildProcess {
  const child = spawn(
    process.execPath,
    [
      MAIN, 'run',
      '--kubeconfig', o.kubeconfig,
      '--name', o.name,
      ...(o.labels ? ['--labels', o.labels] : []),
      '--haproxy-config', o.haproxy.configPath,
      '--master-socket', o.haproxy.masterSocket,
      '--state-dir', o.stateDir,
      '--coalesce-ms', '100',
      '--heartbeat-seconds', '2',
      '--resync-seconds', '2',
      ...(o.args ?? []),
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  child.stdout!.on('data', (d: Buffer) => o.onOutput(d.toString()));
  child.stderr!.on('data', (d: Buffer) => o.onOutput(d.toString()));
  return child;
}
