/**
 * Real etcd for tests: one member or a three-member cluster on free 127.0.0.1 ports, each in a
 * fresh temporary data dir. Debian's `etcd-server` package provides the binary (v3.4); when it
 * is missing and we may install it (root, apt-get present) we do, once, under a lock so that
 * test files starting in parallel do not run apt-get twice. We never skip: a missing etcd is
 * an error that says how to install it.
 *
 * No etcd outlives the test process: stop() ends the members, an exit handler kills whatever
 * is left, and each member has a watchdog (`cat` on a pipe from us) that kills it when the pipe
 * closes, which also covers the test process being killed outright.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureDebianBinary } from '../../../scripts/lib/debian-package.ts';
import { freePort } from './ports.ts';


/** Requests up to 4 MiB: the size test needs a known limit above etcd's 1.5 MiB default. */
export const ETCD_MAX_REQUEST_BYTES = 4 * 1024 * 1024;

/** How often etcd tells an idle, caught-up watch the current revision. */
export const PROGRESS_NOTIFY_INTERVAL = '250ms';

const HEALTH_TIMEOUT_MS = 30_000;
const STOP_GRACE_MS = 3_000;

export interface EtcdCluster {
  /** Client URLs, one per member, in member order (http://127.0.0.1:PORT). */
  endpoints: string[];
  dataDirs: string[];
  /** Stop every member and remove the data dirs. */
  stop(): Promise<void>;
  /** Kill member `index` with SIGKILL (a crash), keeping its ports and data dir. */
  killMember(index: number): Promise<void>;
  /** Start member `index` again after killMember, on the same ports and data; waits until healthy. */
  startMember(index: number): Promise<void>;
  /** The index of the member that is the raft leader now, as the running members see it. */
  leader(): Promise<number>;
}

interface Member {
  name: string;
  clientPort: number;
  peerPort: number;
  dataDir: string;
  process?: ChildProcess;
  watchdog?: ChildProcess;
  /** The last few KiB of the member's output, for error messages. */
  output: string;
  exited?: Promise<void>;
}

const running = new Set<ChildProcess>();
/** Data dirs of clusters not stopped yet. */
const liveDataDirs = new Set<string>();
let exitHandlerInstalled = false;

function installExitHandler(): void {
  if (exitHandlerInstalled) return;
  exitHandlerInstalled = true;
  // 'exit' handlers must be synchronous: SIGKILL and a best-effort removal is what we can do.
  process.on('exit', () => {
    for (const child of running) child.kill('SIGKILL');
    for (const dir of liveDataDirs) {
      try {
        rmSync(dir, { recursive: true, force: true });
      } catch {
        // the killed etcd may still be writing; the OS temp cleanup gets the rest
      }
    }
  });
}

export async function startEtcd(options: { members?: 1 | 3; onDisk?: boolean } = {}): Promise<EtcdCluster> {
  const count = options.members ?? 1;
  const binary = await etcdBinary();
  installExitHandler();
  // A port found free may be taken before etcd binds it: try again with new ports.
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const members = await prepareMembers(count, options.onDisk ?? false);
    try {
      await Promise.all(members.map((m) => launch(binary, m, members)));
      await Promise.all(members.map((m) => waitHealthy(m)));
      return cluster(binary, members);
    } catch (err) {
      lastError = err;
      await Promise.all(members.map((m) => terminate(m)));
      await Promise.all(members.map((m) => rm(m.dataDir, { recursive: true, force: true })));
      for (const m of members) liveDataDirs.delete(m.dataDir);
      if (!(err instanceof Error && /address already in use/.test(err.message))) break;
    }
  }
  throw lastError;
}

function cluster(binary: string, members: Member[]): EtcdCluster {
  const member = (index: number): Member => {
    const m = members[index];
    if (!m) throw new Error(`no etcd member ${index} (the cluster has ${members.length})`);
    return m;
  };
  return {
    endpoints: members.map((m) => `http://127.0.0.1:${m.clientPort}`),
    dataDirs: members.map((m) => m.dataDir),
    async stop() {
      await Promise.all(members.map((m) => terminate(m)));
      await Promise.all(members.map((m) => rm(m.dataDir, { recursive: true, force: true })));
      for (const m of members) liveDataDirs.delete(m.dataDir);
    },
    async killMember(index) {
      await terminate(member(index), 'SIGKILL');
    },
    async startMember(index) {
      const m = member(index);
      if (m.process) throw new Error(`etcd member ${m.name} is already running`);
      // With an existing data dir etcd ignores --initial-cluster* and rejoins as itself.
      await launch(binary, m, members);
      await waitHealthy(m);
    },
    async leader() {
      // The gRPC gateway's Status: each member reports its own id and the leader's id.
      const statuses = await Promise.all(
        members
          .filter((m) => m.process)
          .map(async (m) => {
            const res = await fetch(`http://127.0.0.1:${m.clientPort}/v3/maintenance/status`, { method: 'POST', body: '{}' });
            const body: unknown = await res.json();
            return { member: m, id: field(field(body, 'header'), 'member_id'), leader: field(body, 'leader') };
          }),
      );
      const leaderId = statuses.find((s) => typeof s.leader === 'string' && s.leader !== '0')?.leader;
      const index = members.findIndex((m) => statuses.some((s) => s.member === m && s.id === leaderId));
      if (index < 0) throw new Error(`no etcd member is the leader: ${JSON.stringify(statuses.map((s) => [s.id, s.leader]))}`);
      return index;
    },
  };
}

/** A property of a parsed JSON value, if it is an object that has it. */
function field(value: unknown, name: string): unknown {
  return typeof value === 'object' && value !== null ? (Reflect.get(value, name) as unknown) : undefined;
}

async function prepareMembers(count: number, onDisk: boolean): Promise<Member[]> {
  // Unique names and cluster token: several clusters may run at once on this machine.
  const token = `hq-test-${process.pid}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
  // tmpfs when there is one: etcd fsyncs every commit, and on a disk that dominates test time.
  // Benchmarks ask for disk, so etcd pays for its fsyncs as the embedded store does.
  const base = !onDisk && existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
  const members: Member[] = [];
  for (let i = 0; i < count; i++) {
    members.push({
      name: `${token}-m${i}`,
      clientPort: await freePort(),
      peerPort: await freePort(),
      dataDir: await mkdtemp(join(base, 'haproxyhq-etcd-')),
      output: '',
    });
    liveDataDirs.add(members[i]!.dataDir);
  }
  return members;
}

function launch(binary: string, m: Member, all: Member[]): Promise<void> {
  const peer = (x: Member) => `http://127.0.0.1:${x.peerPort}`;
  const client = `http://127.0.0.1:${m.clientPort}`;
  const args = [
    `--name=${m.name}`,
    `--data-dir=${m.dataDir}`,
    `--listen-client-urls=${client}`,
    `--advertise-client-urls=${client}`,
    `--listen-peer-urls=${peer(m)}`,
    `--initial-advertise-peer-urls=${peer(m)}`,
    `--initial-cluster=${all.map((x) => `${x.name}=${peer(x)}`).join(',')}`,
    `--initial-cluster-token=${m.name.replace(/-m\d+$/, '')}`,
    '--initial-cluster-state=new',
    `--max-request-bytes=${ETCD_MAX_REQUEST_BYTES}`,
    // Progress notifications (empty watch responses, our onProgress) every 10 minutes by
    // default; often enough here that tests see them.
    `--experimental-watch-progress-notify-interval=${PROGRESS_NOTIFY_INTERVAL}`,
    '--logger=zap',
    '--log-outputs=stderr',
    '--log-level=warn',
  ];
  m.output = '';
  const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  m.process = child;
  running.add(child);
  const keep = (chunk: Buffer) => {
    m.output = (m.output + chunk.toString('utf8')).slice(-8192);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  m.exited = new Promise((resolve) => {
    child.once('exit', () => {
      running.delete(child);
      if (m.process === child) m.process = undefined;
      resolve();
    });
  });
  return new Promise((resolve, reject) => {
    child.once('error', (err) => reject(new Error(`cannot run ${binary}: ${err.message}`)));
    child.once('spawn', () => {
      m.watchdog = startWatchdog(child, m.dataDir);
      resolve();
    });
  });
}

/**
 * A shell that waits for EOF on a pipe from us, then kills the member and removes its data
 * dir. The pipe closes when this process ends for any reason, SIGKILL included, which no exit
 * handler sees.
 */
function startWatchdog(child: ChildProcess, dataDir: string): ChildProcess | undefined {
  if (child.pid === undefined) return undefined;
  const script = 'cat >/dev/null; kill -9 "$1" 2>/dev/null; sleep 1; rm -rf "$2"';
  const watchdog = spawn('sh', ['-c', script, 'etcd-watchdog', String(child.pid), dataDir], {
    stdio: ['pipe', 'ignore', 'ignore'],
  });
  watchdog.on('error', () => {}); // best effort: the exit handler still covers a normal exit
  watchdog.unref();
  if (watchdog.stdin instanceof Socket) watchdog.stdin.unref();
  return watchdog;
}

async function waitHealthy(m: Member): Promise<void> {
  const deadline = Date.now() + HEALTH_TIMEOUT_MS;
  const url = `http://127.0.0.1:${m.clientPort}/health`;
  let last = '';
  while (Date.now() < deadline) {
    if (!m.process) {
      throw new Error(`etcd member ${m.name} exited during start-up:\n${m.output}`);
    }
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
      const body: unknown = await res.json();
      // /health is {"health":"true"} once the member has a leader and no alarms.
      if (typeof body === 'object' && body !== null && 'health' in body && body.health === 'true') return;
      last = JSON.stringify(body);
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`etcd member ${m.name} not healthy after ${HEALTH_TIMEOUT_MS} ms (${last}):\n${m.output}`);
}

async function terminate(m: Member, signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<void> {
  const child = m.process;
  if (child && m.exited) {
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
    await m.exited;
    clearTimeout(timer);
  }
  const watchdog = m.watchdog;
  m.watchdog = undefined;
  if (watchdog) {
    // Kill the shell first, so closing its pipe cannot make it kill a reused pid (or remove
    // the data dir of a member that is only restarting).
    watchdog.kill('SIGKILL');
    watchdog.stdin?.destroy();
  }
}

// ---------------------------------------------------------------------------------------------
// Finding (or installing) the etcd binary

const HOW_TO_INSTALL =
  'The etcd tests need a real etcd (v3.4 or later) on PATH. On Debian or Ubuntu: `apt-get install etcd-server`; ' +
  'elsewhere put the etcd binary from an etcd release on PATH.';

const etcdBinary = () => ensureDebianBinary({ binary: 'etcd', pkg: 'etcd-server', howTo: HOW_TO_INSTALL });
