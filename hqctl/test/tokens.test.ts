/**
 * Credentials through hqctl against a real API server: an API token made for a pipeline works
 * (and only as what RBAC gives its user), is listed by id without its secret, and stops working
 * when deleted; a join token is printed with the agent command that uses it, enrolls once, and
 * `revoke agent` takes the agent's credential away.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request, startServer, type ServerProcess } from '../../api-server/test/support/server.ts';
import { BASE, hqctl, lines } from './support.ts';

let server: ServerProcess;
const dir = mkdtempSync(join(tmpdir(), 'hqctl-tokens-'));

beforeAll(async () => {
  server = await startServer({ args: ['--controllers', 'false'] });
});
afterAll(async () => {
  await server?.stop();
  server?.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

/** hqctl as the holder of `token`: the server's URL and CA, not its admin kubeconfig. */
function as(token: string, args: string[]) {
  const ca = join(dir, 'server-ca.crt');
  writeFileSync(ca, server.ca);
  return hqctl(server, ['--server', server.url, '--token', token, '--certificate-authority', ca, ...args], { noKubeconfig: true });
}

describe('hqctl create token, get tokens, delete token', () => {
  it('prints only the secret on stdout, works as the user it names, and is revoked by id', async () => {
    const made = await hqctl(server, ['create', 'token', '--user', 'ci', '--group', 'deployers', '--ttl', '24h', '--description', 'CI deploys']);
    expect(made.code, made.stderr).toBe(0);
    const token = made.stdout.trim();
    expect(token).toMatch(/^hq_[A-Za-z0-9_-]{43}$/);
    const id = /token ([0-9a-f]{12}) created for user "ci" in deployers, valid until \S+Z; it is not shown again/.exec(made.stderr)?.[1];
    expect(id, made.stderr).toBeDefined();

    // Authenticated (403 from RBAC, not 401) until a binding gives it something.
    const who = { ...server, token };
    expect((await request(who, 'GET', `${BASE}/namespaces/default/haproxyconfigs`)).status).toBe(403);
    const bound = await request(server, 'POST', `${BASE}/clusterrolebindings`, { metadata: { name: 'deployers' }, roleRef: { kind: 'ClusterRole', name: 'viewer' }, subjects: [{ kind: 'Group', name: 'deployers' }] });
    expect(bound.status).toBe(201);
    const deadline = Date.now() + 5000;
    while ((await request(who, 'GET', `${BASE}/namespaces/default/haproxyconfigs`)).status !== 200) {
      expect(Date.now()).toBeLessThan(deadline);
      await new Promise((r) => setTimeout(r, 50));
    }

    const list = await hqctl(server, ['get', 'tokens']);
    expect(list.code, list.stderr).toBe(0);
    const rows = lines(list.stdout);
    expect(rows[0]).toMatch(/^ID\s+TYPE\s+USER\s+GROUPS\s+AGE\s+EXPIRES\s+DESCRIPTION$/);
    expect(rows.find((r) => r.startsWith(id!))).toMatch(new RegExp(`^${id}\\s+user\\s+ci\\s+deployers\\s+\\S+\\s+in 2[34]h\\s+CI deploys$`));
    // The server's own admin token is there too, and no secret anywhere.
    expect(rows.some((r) => /\suser\s+admin\s+system:masters\s/.test(r))).toBe(true);
    expect(list.stdout).not.toContain(token);
    expect(list.stdout).not.toContain(server.token);
    const json = await hqctl(server, ['get', 'tokens', '-o', 'json']);
    expect(JSON.parse(json.stdout).items.find((t: any) => t.metadata.name === id)).toMatchObject({ kind: 'APIToken', user: { name: 'ci', groups: ['deployers'] } });

    const deleted = await hqctl(server, ['delete', 'token', id!]);
    expect(deleted.stdout).toBe(`token "${id}" deleted\n`);
    expect((await request(who, 'GET', `${BASE}/namespaces/default/haproxyconfigs`)).status).toBe(401);
    const again = await hqctl(server, ['delete', 'token', id!]);
    expect(again.code).toBe(1);
    expect(again.stderr).toBe(`Error from server (NotFound): tokens.haproxyhq.io "${id}" not found\n`);
  });

  it('says what is wrong with bad flags, and a viewer cannot make tokens', async () => {
    const noUser = await hqctl(server, ['create', 'token']);
    expect(noUser.code).toBe(1);
    expect(noUser.stderr).toBe('error: a token needs --user NAME: the user it authenticates as (RoleBindings name it)\n');
    const badTtl = await hqctl(server, ['create', 'token', '--user', 'x', '--ttl', 'soon']);
    expect(badTtl.stderr).toMatch(/^error: invalid argument "soon" for "--ttl" flag/);
    const what = await hqctl(server, ['create', 'haproxyinstance']);
    expect(what.stderr).toMatch(/^error: hqctl create makes users, tokens and join tokens, not "haproxyinstance"/);

    // deployers are viewers (the binding of the first test): they read, but make no tokens.
    const viewer = (await hqctl(server, ['create', 'token', '--user', 'vic', '--group', 'deployers'])).stdout.trim();
    expect((await as(viewer, ['get', 'hc'])).code).toBe(0);
    const refused = await as(viewer, ['create', 'token', '--user', 'mallory', '--group', 'system:masters']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^Error from server \(Forbidden\): tokens.haproxyhq.io is forbidden: User "vic" cannot create resource "tokens"/);
    expect((await as(viewer, ['get', 'tokens'])).stderr).toMatch(/^Error from server \(Forbidden\)/);
  });
});

describe('hqctl create join-token and revoke agent', () => {
  it('prints the join token and the agent command; the token enrolls once; revoke takes the credential away', async () => {
    const ca = join(dir, 'ca.crt');
    const r = await hqctl(server, ['create', 'join-token', '--ttl', '30m', '--instance', 'edge-7', '--write-ca', ca, '--description', 'rack 4']);
    expect(r.code, r.stderr).toBe(0);
    const token = /^(hqj_[A-Za-z0-9_-]{43})$/m.exec(r.stdout)?.[1];
    expect(token, r.stdout).toBeDefined();
    expect(r.stdout).toMatch(/^join-token [0-9a-f]{12} created: one agent may enroll with it into namespace "default" as haproxyinstance "edge-7" until \S+Z\.$/m);
    expect(r.stdout).toContain(`  hq-agent run --join-token ${token} --server ${server.url} --certificate-authority ${ca} --name edge-7\n`);
    expect(readFileSync(ca, 'utf8')).toBe(server.ca);

    const listed = await hqctl(server, ['get', 'join-tokens']);
    expect(lines(listed.stdout)[0]).toMatch(/^ID\s+INSTANCE\s+USED BY\s+AGE\s+EXPIRES\s+DESCRIPTION$/);
    expect(lines(listed.stdout)[1]).toMatch(/^[0-9a-f]{12}\s+edge-7\s+<none>\s+\S+\s+in (29|30)m\s+rack 4$/);
    expect(listed.stdout).not.toContain(token);

    const enrolled = await request({ ...server, token: '' }, 'POST', '/enroll', { token, instance: 'edge-7' }, { authorization: '' });
    expect(enrolled.status, enrolled.text).toBe(200);
    const agent = { ...server, token: enrolled.body.token as string };
    expect((await request(agent, 'GET', `${BASE}/namespaces/default/haproxyinstances/edge-7`)).status).toBe(200);
    const used = await hqctl(server, ['get', 'join-tokens']);
    expect(lines(used.stdout)[1]).toMatch(/\sedge-7\s+edge-7\s+\S+\s+used\s+rack 4$/);

    const agents = await hqctl(server, ['get', 'tokens']);
    expect(lines(agents.stdout).some((l) => /\sagent\s+system:agent:default:edge-7\s+system:agents\s/.test(l))).toBe(true);

    const revoked = await hqctl(server, ['revoke', 'agent', 'edge-7']);
    expect(revoked.code, revoked.stderr).toBe(0);
    expect(revoked.stdout).toMatch(/^revoked 1 credential of the agent of haproxyinstance "edge-7" in namespace "default": [0-9a-f]{12}\n$/);
    expect((await request(agent, 'GET', `${BASE}/namespaces/default/haproxyinstances/edge-7`)).status).toBe(401);
    const nothing = await hqctl(server, ['revoke', 'agent', 'edge-7']);
    expect(nothing.code).toBe(0);
    expect(nothing.stderr).toBe('haproxyinstance "edge-7" in namespace "default" has no working credential: nothing to revoke\n');
  });

  it('refuses a TTL over a week and API-token flags', async () => {
    const long = await hqctl(server, ['create', 'join-token', '--ttl', '8d']);
    expect(long.stderr).toBe('error: --ttl 8d is too long: a join token lives at most 7d (168h)\n');
    const user = await hqctl(server, ['create', 'join-token', '--user', 'x']);
    expect(user.stderr).toMatch(/^error: --user and --group are for API tokens/);
    const token = await hqctl(server, ['create', 'join-token', '-o', 'token']);
    expect(token.stdout).toMatch(/^hqj_[A-Za-z0-9_-]{43}\n$/);
  });
});
