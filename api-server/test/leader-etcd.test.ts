/**
 * Two api-server replicas on one etcd: exactly one runs the rollout controller (it holds the
 * Lease); SIGKILL it in the middle of a rolling rollout and the other takes the Lease over and
 * finishes the rollout from where the store says it stands.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configFixture, instanceFixture, ns } from './support/fixtures.ts';
import { startEtcd, type EtcdCluster } from './support/etcd.ts';
import { request, startServer, type ServerProcess } from './support/server.ts';
import { until } from './support/until.ts';

let etcd: EtcdCluster;
let replicas: ServerProcess[] = [];
const LEASE = `${ns('leases', 'haproxyhq-system')}/rollout-controller`;
const merge = { 'content-type': 'application/merge-patch+json' };

beforeAll(async () => {
  etcd = await startEtcd();
  const args = ['--storage', 'etcd', '--etcd-endpoints', etcd.endpoints.join(','), '--etcd-prefix', '/leader', '--leader-lease-seconds', '3'];
  replicas = await Promise.all([startServer({ args }), startServer({ args })]);
});

afterAll(async () => {
  for (const s of replicas) {
    await s.stop().catch(() => {});
    s.cleanup();
  }
  await etcd?.stop();
});


const condition = (obj: any, type: string) => (obj?.status?.conditions ?? []).find((c: any) => c.type === type);

/** Report an instance Ready on the revision it is told to run, as its agent would. */
async function reportReady(via: ServerProcess, name: string) {
  const inst = (await request(via, 'GET', `${ns('haproxyinstances')}/${name}`)).body;
  const rev = inst.spec.configRevision;
  const t = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const status = {
    appliedRevision: rev,
    conditions: [
      { type: 'ConfigApplied', status: 'True', reason: 'Applied', message: `running ${rev}`, lastTransitionTime: t },
      { type: 'Ready', status: 'True', reason: 'Ready', message: 'serving', lastTransitionTime: t },
    ],
  };
  const r = await request(via, 'PATCH', `${ns('haproxyinstances')}/${name}/status`, { status }, merge);
  expect(r.status, r.text).toBe(200);
}

describe('leader election on etcd', () => {
  it('one replica leads; killed mid-rollout, the other takes over and finishes it', async () => {
    const lease = await until('a leader', async () => {
      const r = await request(replicas[0]!, 'GET', LEASE);
      return r.status === 200 && r.body.spec.holderIdentity && r.body;
    });
    const pidOf = (holder: string) => Number(holder.split('_').at(-2));
    const leader = replicas.find((s) => s.child.pid === pidOf(lease.spec.holderIdentity))!;
    const standby = replicas.find((s) => s !== leader)!;
    expect(leader).toBeDefined();
    expect(standby).toBeDefined();

    const names = ['h1', 'h2', 'h3', 'h4'];
    for (const name of names) {
      expect((await request(standby, 'POST', ns('haproxyinstances'), instanceFixture({ metadata: { name } }))).status).toBe(201);
    }
    const created = await request(standby, 'POST', ns('haproxyconfigs'), configFixture({ spec: { strategy: { type: 'Rolling', canary: 1, maxUnavailable: 1 } } }));
    expect(created.status).toBe(201);
    const targets = async () => {
      const items = (await request(standby, 'GET', ns('haproxyinstances'))).body.items as any[];
      return items.filter((i) => i.spec?.configRevision === 'web-1').map((i) => i.metadata.name).sort();
    };
    // The leader moves the canary, then one at a time.
    await until('canary h1', async () => (await targets()).join() === 'h1');
    await reportReady(standby, 'h1');
    await until('h2', async () => (await targets()).join() === 'h1,h2');

    // Only the leader ran the controller so far.
    expect(leader.output()).toMatch(/rollout controller: default\/web: moved 1 instance/);
    expect(standby.output()).not.toMatch(/rollout controller: .*moved/);

    // Mid-rollout: the leader dies without releasing its Lease.
    await leader.kill();
    const killedAt = Date.now();
    await reportReady(standby, 'h2');
    const taken = await until('the standby takes the lease', async () => {
      const r = await request(standby, 'GET', LEASE);
      return pidOf(r.body.spec.holderIdentity) === standby.child.pid && r.body;
    });
    expect(taken.spec.leaseTransitions).toBeGreaterThanOrEqual(1);
    // Not before the dead leader's lease ran out (3 s by the standby's own clock).
    expect(Date.now() - killedAt).toBeGreaterThanOrEqual(2_000);

    for (const name of ['h3', 'h4']) {
      await until(`${name} moved by the new leader`, async () => (await targets()).includes(name));
      await reportReady(standby, name);
    }
    const done = await until('Complete', async () => {
      const c = (await request(standby, 'GET', `${ns('haproxyconfigs')}/web`)).body;
      return condition(c, 'Complete')?.status === 'True' && c;
    });
    expect(done.status).toMatchObject({ instances: 4, updated: 4, ready: 4, failed: 0, latestRevision: 'web-1' });
    expect(await targets()).toEqual(names);
  });
});
