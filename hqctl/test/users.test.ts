/**
 * Users through hqctl against a real API server: create user (a random password printed once,
 * or one from standard input), get users (never a hash), passwd (your own with the current one,
 * anyone's for an admin; passwords from standard input one per line), delete user; and each
 * password then works, or stops working, at POST /login.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request, startServer, type ServerProcess } from '../../api-server/test/support/server.ts';
import { hqctl, lines } from './support.ts';

let server: ServerProcess;
const dir = mkdtempSync(join(tmpdir(), 'hqctl-users-'));

beforeAll(async () => {
  server = await startServer({ args: ['--controllers', 'false', '--console-dir', 'none'] });
});
afterAll(async () => {
  await server?.stop();
  server?.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

/** POST /login's status for a user name and password. */
const login = async (username: string, password: string) => (await request(server, 'POST', '/login', { username, password }, { authorization: '' })).status;

/** hqctl as the holder of `token`: the server's URL and CA, not its admin kubeconfig. */
function as(token: string, args: string[], input?: string) {
  const ca = join(dir, 'server-ca.crt');
  writeFileSync(ca, server.ca);
  return hqctl(server, ['--server', server.url, '--token', token, '--certificate-authority', ca, ...args], { noKubeconfig: true, input });
}

describe('hqctl create user, get users, passwd, delete user', () => {
  let alicePassword = '';

  it('creates a user with a random password printed once on stdout, or with one from stdin', async () => {
    const made = await hqctl(server, ['create', 'user', 'alice', '--group', 'ops', '--group', 'viewers']);
    expect(made.code, made.stderr).toBe(0);
    alicePassword = made.stdout.trim();
    expect(alicePassword).toMatch(/^[A-Za-z0-9_-]{27}$/);
    expect(made.stderr).toMatch(/user "alice" created in ops, viewers; the password above is not shown again/);
    expect(await login('alice', alicePassword)).toBe(200);

    const piped = await hqctl(server, ['create', 'user', 'bob', '--password-stdin'], { input: 'bob first password\n' });
    expect(piped.code, piped.stderr).toBe(0);
    expect(piped.stdout).toBe('user "bob" created\n');
    expect(await login('bob', 'bob first password')).toBe(200);

    const taken = await hqctl(server, ['create', 'user', 'bob', '--password-stdin'], { input: 'another password\n' });
    expect(taken.code).toBe(1);
    expect(taken.stderr).toMatch(/Error from server \(AlreadyExists\): users.haproxyhq.io "bob" already exists/);
    const short = await hqctl(server, ['create', 'user', 'carol', '--password-stdin'], { input: 'short\n' });
    expect(short.code).toBe(1);
    expect(short.stderr).toMatch(/Error from server \(Invalid\): .*password: must have at least 8 characters/);
    expect((await hqctl(server, ['create', 'user'])).stderr).toMatch(/you must name the user/);
  });

  it('lists users with their groups and never a hash', async () => {
    const table = await hqctl(server, ['get', 'users']);
    expect(table.code, table.stderr).toBe(0);
    const rows = lines(table.stdout);
    expect(rows[0]).toMatch(/^NAME\s+GROUPS\s+PASSWORD CHANGED\s+AGE$/);
    // The first start's admin is there too.
    expect(rows.slice(1).map((r) => r.split(/\s+/)[0])).toEqual(['admin', 'alice', 'bob']);
    expect(rows.find((r) => r.startsWith('alice'))).toMatch(/^alice\s+ops,viewers\s+\S+ ago\s+\S+$/);
    expect(rows.find((r) => r.startsWith('admin'))).toMatch(/^admin\s+system:masters\s/);
    const json = await hqctl(server, ['get', 'user', 'alice', '-o', 'json']);
    expect(JSON.parse(json.stdout)).toMatchObject({ kind: 'User', metadata: { name: 'alice' }, groups: ['ops', 'viewers'] });
    expect(json.stdout).not.toMatch(/scrypt|salt|hash/);
    expect((await hqctl(server, ['get', 'users', '-o', 'name'])).stdout).toBe('user/admin\nuser/alice\nuser/bob\n');
  });

  it('changes your own password with the current one, read from stdin one per line', async () => {
    const made = await hqctl(server, ['create', 'token', '--user', 'bob']);
    const bobToken = made.stdout.trim();
    const wrong = await as(bobToken, ['passwd'], 'not my password\nbob second password\n');
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/Error from server \(Forbidden\): the current password is not correct/);
    const missing = await as(bobToken, ['passwd'], 'bob first password\n');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/standard input ended before the new password for bob/);

    const changed = await as(bobToken, ['passwd'], 'bob first password\nbob second password\n');
    expect(changed.code, changed.stderr).toBe(0);
    expect(changed.stdout).toBe('password of user "bob" changed; their other console sessions have ended\n');
    expect(await login('bob', 'bob first password')).toBe(401);
    expect(await login('bob', 'bob second password')).toBe(200);
    // Someone else's: only an admin.
    const other = await as(bobToken, ['passwd', 'alice'], 'hijacked password\n');
    expect(other.code).toBe(1);
    expect(other.stderr).toMatch(/Error from server \(Forbidden\)/);
    expect(await login('alice', alicePassword)).toBe(200);
    // And bob may not manage users.
    expect((await as(bobToken, ['get', 'users'])).stderr).toMatch(/Error from server \(Forbidden\)/);
  });

  it('lets an admin reset anyone\'s password without the current one, and change its own with it', async () => {
    const reset = await hqctl(server, ['passwd', 'alice'], { input: 'alice new password\n' });
    expect(reset.code, reset.stderr).toBe(0);
    expect(await login('alice', alicePassword)).toBe(401);
    expect(await login('alice', 'alice new password')).toBe(200);

    // The server's admin token is user admin: its own password needs the initial one.
    const initial = readFileSync(join(server.dataDir, 'initial-admin-password'), 'utf8').trim();
    const own = await hqctl(server, ['passwd'], { input: `${initial}\nthe admin's own password\n` });
    expect(own.code, own.stderr).toBe(0);
    expect(await login('admin', initial)).toBe(401);
    expect(await login('admin', "the admin's own password")).toBe(200);
  });

  it("shows, sets, adds and removes a user's groups; a bob without the right is refused", async () => {
    expect(await hqctl(server, ['groups', 'alice'])).toMatchObject({ code: 0, stdout: 'ops\nviewers\n' });
    expect(await hqctl(server, ['groups', 'alice', '--add', 'editors', '--remove', 'viewers'])).toMatchObject({ code: 0, stdout: 'user "alice" is now in ops, editors\n' });
    expect(await hqctl(server, ['groups', 'alice', 'deployers', 'ops'])).toMatchObject({ code: 0, stdout: 'user "alice" is now in deployers, ops\n' });
    expect(await hqctl(server, ['groups', 'alice', '--add', 'ops'])).toMatchObject({ code: 0, stdout: 'user "alice" unchanged: deployers, ops\n' });
    expect((await request(server, 'GET', '/apis/haproxyhq.io/v1alpha1/users/alice')).body.groups).toEqual(['deployers', 'ops']);
    const both = await hqctl(server, ['groups', 'alice', 'ops', '--add', 'x']);
    expect([both.code, both.stderr]).toEqual([1, 'error: give the groups, or --add and --remove, not both\n']);
    const missing = await hqctl(server, ['groups', 'nobody', 'ops']);
    expect([missing.code, missing.stderr]).toEqual([1, expect.stringMatching(/Error from server \(NotFound\): users.haproxyhq.io "nobody" not found/)]);
    // bob has no binding: the server refuses, in kubectl's words.
    const token = (await hqctl(server, ['create', 'token', '--user', 'bob'])).stdout.trim();
    const refused = await as(token, ['groups', 'alice', 'ops']);
    expect([refused.code, refused.stderr]).toEqual([1, expect.stringMatching(/Error from server \(Forbidden\): users.haproxyhq.io "alice" is forbidden: User "bob" cannot get resource "users"/)]);
  });

  it('deletes users: they can no longer sign in', async () => {
    const del = await hqctl(server, ['delete', 'user', 'bob']);
    expect(del.code, del.stderr).toBe(0);
    expect(del.stdout).toBe('user "bob" deleted\n');
    expect(await login('bob', 'bob second password')).toBe(401);
    const again = await hqctl(server, ['delete', 'user', 'bob']);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/Error from server \(NotFound\): users.haproxyhq.io "bob" not found/);
    expect((await hqctl(server, ['delete', 'user', 'bob', '--ignore-not-found'])).code).toBe(0);
  });
});
