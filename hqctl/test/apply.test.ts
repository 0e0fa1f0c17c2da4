/**
 * hqctl apply, diff and delete against a real API server (with its rollout controller running):
 * the examples are created, then unchanged, then configured after an edit; fields others own
 * survive an apply; and every bad input is refused with its exact message, exit code 1, and
 * nothing applied.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request, startServer, type ServerProcess } from '../../api-server/test/support/server.ts';
import { BASE, EXAMPLES, hqctl, repo } from './support.ts';

let server: ServerProcess;
let dir: string;
const NS = `${BASE}/namespaces/default`;

beforeAll(async () => {
  server = await startServer();
  dir = mkdtempSync(join(tmpdir(), 'hqctl-apply-'));
});
afterAll(async () => {
  await server?.stop();
  server?.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

const file = (name: string, text: string) => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};
const exists = async (plural: string, name: string, ns = 'default') =>
  (await request(server, 'GET', `${BASE}/namespaces/${ns}/${plural}/${name}`)).status === 200;
const instance = (name: string, labels = '{role: test}', spec = '{}') =>
  `apiVersion: haproxyhq.io/v1alpha1\nkind: HAProxyInstance\nmetadata:\n  name: ${name}\n  labels: ${labels}\nspec: ${spec}\n`;
const webYaml = () => readFileSync(join(EXAMPLES, 'haproxyconfig-web.yaml'), 'utf8');

describe('hqctl apply', () => {
  it('creates the examples, then leaves them unchanged, then configures only what was edited', async () => {
    const examples = relative(repo, EXAMPLES);
    const created = await hqctl(server, ['apply', '-f', examples]);
    expect(created.stderr).toBe('');
    expect(created.code).toBe(0);
    expect(created.stdout).toBe(
      'haproxyconfig.haproxyhq.io/web created\nhaproxyinstance.haproxyhq.io/edge-1 created\nhaproxyinstance.haproxyhq.io/edge-2 created\n',
    );

    // The controller assigns revisions to the instances meanwhile; apply keeps what it set.
    const again = await hqctl(server, ['apply', '-f', examples]);
    expect(again.code).toBe(0);
    expect(again.stdout).toBe(
      'haproxyconfig.haproxyhq.io/web unchanged\nhaproxyinstance.haproxyhq.io/edge-1 unchanged\nhaproxyinstance.haproxyhq.io/edge-2 unchanged\n',
    );

    const edited = file('web.yaml', webYaml().replace('maxconn 4096', 'maxconn 5000'));
    const configured = await hqctl(server, ['apply', '-f', edited, '-f', join(EXAMPLES, 'haproxyinstance-edge-1.yaml')]);
    expect(configured.code).toBe(0);
    expect(configured.stdout).toBe('haproxyconfig.haproxyhq.io/web configured\nhaproxyinstance.haproxyhq.io/edge-1 unchanged\n');
    const web = (await request(server, 'GET', `${NS}/haproxyconfigs/web`)).body;
    expect(web.metadata.generation).toBe(2);
    expect(web.spec.config).toContain('maxconn 5000');
  });

  it('reads - from standard input', async () => {
    const r = await hqctl(server, ['apply', '-f', '-'], { input: instance('stdin-1') });
    expect(r.stdout).toBe('haproxyinstance.haproxyhq.io/stdin-1 created\n');
    expect(await exists('haproxyinstances', 'stdin-1')).toBe(true);
  });

  it('keeps fields it does not own (controller, server verbs, agent labels) and removes the ones the manifest dropped', async () => {
    const p = file('own.yaml', instance('own-1', '{role: test, tier: a}', '{paused: true, values: {port: "1"}}'));
    expect((await hqctl(server, ['apply', '-f', p])).code).toBe(0);
    // Someone else writes spec.servers and a label (as hqctl drain and an agent do).
    const live = (await request(server, 'GET', `${NS}/haproxyinstances/own-1`)).body;
    live.spec.servers = [{ backend: 'app', server: 'a1', state: 'drain' }];
    live.metadata.labels.host = 'h1';
    expect((await request(server, 'PUT', `${NS}/haproxyinstances/own-1`, live)).status).toBe(200);

    writeFileSync(p, instance('own-1', '{role: test}', '{values: {port: "2"}}'));
    const r = await hqctl(server, ['apply', '-f', p]);
    expect(r.stdout).toBe('haproxyinstance.haproxyhq.io/own-1 configured\n');
    const after = (await request(server, 'GET', `${NS}/haproxyinstances/own-1`)).body;
    expect(after.spec).toEqual({ values: { port: '2' }, servers: [{ backend: 'app', server: 'a1', state: 'drain' }] });
    expect(after.metadata.labels).toEqual({ role: 'test', host: 'h1' });
  });

  it('--dry-run=server validates and reports without writing', async () => {
    const r = await hqctl(server, ['apply', '--dry-run=server', '-f', file('dry.yaml', instance('dry-1'))]);
    expect(r.stdout).toBe('haproxyinstance.haproxyhq.io/dry-1 created (server dry run)\n');
    expect(await exists('haproxyinstances', 'dry-1')).toBe(false);
  });
});

describe('hqctl apply refuses bad input, applies nothing, exits 1', () => {
  // Every bad file also holds a good document: it must not be created.
  const good = instance('must-not-exist');

  it('a YAML syntax error, with file:line:column', async () => {
    const p = file('syntax.yaml', `${good}---\napiVersion: haproxyhq.io/v1alpha1\nkind: HAProxyInstance\nmetadata:\n  name: x\n   labels: {}\n`);
    const r = await hqctl(server, ['apply', '-f', p]);
    expect(r.stderr).toBe(`error: ${p}:12:10: bad indentation of a mapping entry\n`);
    expect(r.stdout).toBe('');
    expect(r.code).toBe(1);
    expect(await exists('haproxyinstances', 'must-not-exist')).toBe(false);
  });

  it('an unknown kind, naming the document and the kinds it knows', async () => {
    const p = file('kind.yaml', `${good}---\napiVersion: haproxyhq.io/v1alpha1\nkind: Foo\nmetadata:\n  name: foo\n`);
    const r = await hqctl(server, ['apply', '-f', p]);
    expect(r.stderr).toBe(`error: ${p} (document 2): unknown kind "Foo" for haproxyhq.io/v1alpha1; known: HAProxyInstance, HAProxyConfig, Role, ClusterRole, RoleBinding, ClusterRoleBinding\n`);
    expect(r.code).toBe(1);
    expect(await exists('haproxyinstances', 'must-not-exist')).toBe(false);
  });

  it('a missing name', async () => {
    const p = file('noname.yaml', `${good}---\napiVersion: haproxyhq.io/v1alpha1\nkind: HAProxyInstance\nmetadata:\n  labels: {a: b}\n`);
    const r = await hqctl(server, ['apply', '-f', p]);
    expect(r.stderr).toBe(`error: ${p} (document 2): metadata.name is required\n`);
    expect(r.code).toBe(1);
    expect(await exists('haproxyinstances', 'must-not-exist')).toBe(false);
  });

  it('a missing file, even when the other files are good', async () => {
    const p = file('good.yaml', good);
    const r = await hqctl(server, ['apply', '-f', p, '-f', 'manifests/nope.yaml']);
    expect(r.stderr).toBe('error: the path "manifests/nope.yaml" does not exist\n');
    expect(r.code).toBe(1);
    expect(await exists('haproxyinstances', 'must-not-exist')).toBe(false);
  });

  it('an object the server rejects (422), with the file and the failing field; the good one before it is not created', async () => {
    const p = file('invalid.yaml', `${good}---\n${instance('bad-spec', '{role: test}', '{paused: "yes"}')}`);
    const r = await hqctl(server, ['apply', '-f', p]);
    expect(r.stderr).toMatch(new RegExp(`^Error from server \\(Invalid\\): error when creating "${p} \\(document 2\\)": .*spec\\.paused`));
    expect(r.code).toBe(1);
    expect(await exists('haproxyinstances', 'must-not-exist')).toBe(false);
    expect(await exists('haproxyinstances', 'bad-spec')).toBe(false);
  });

  it('a stale resourceVersion in the manifest is a 409 Conflict, not retried', async () => {
    expect((await hqctl(server, ['apply', '-f', file('rv.yaml', instance('rv-1'))])).code).toBe(0);
    const saved = await hqctl(server, ['get', 'hi', 'rv-1', '-o', 'yaml']);
    const p = file('rv-saved.yaml', saved.stdout.replace('role: test', 'role: stale'));
    // Someone changes the object after it was saved.
    expect((await hqctl(server, ['apply', '-f', file('rv.yaml', instance('rv-1', '{role: newer}'))])).stdout).toMatch(/configured/);
    const r = await hqctl(server, ['apply', '-f', p]);
    expect(r.stderr).toBe(
      `Error from server (Conflict): error when updating "${p} (document 1)": Operation cannot be fulfilled on haproxyinstances.haproxyhq.io "rv-1": the object has been modified; please apply your changes to the latest version and try again\n`,
    );
    expect(r.code).toBe(1);
    expect((await request(server, 'GET', `${NS}/haproxyinstances/rv-1`)).body.metadata.labels).toEqual({ role: 'newer' });
  });

  it('a namespace that contradicts -n', async () => {
    const p = file('ns.yaml', instance('ns-1').replace('name: ns-1', 'name: ns-1\n  namespace: prod'));
    const r = await hqctl(server, ['apply', '-n', 'staging', '-f', p]);
    expect(r.stderr).toBe(
      `error: ${p} (document 1): the namespace from the provided object "prod" does not match the namespace "staging". You must pass '--namespace=prod' to perform this operation.\n`,
    );
    expect(r.code).toBe(1);
    expect(await exists('haproxyinstances', 'ns-1', 'prod')).toBe(false);
  });
});

describe('hqctl diff', () => {
  it('exits 0 without differences, 1 with a unified diff, 2 on error', async () => {
    const p = file('diff.yaml', instance('diff-1', '{role: test}', '{paused: false}'));
    expect((await hqctl(server, ['apply', '-f', p])).code).toBe(0);
    const same = await hqctl(server, ['diff', '-f', p]);
    expect(same).toEqual({ code: 0, stdout: '', stderr: '' });

    writeFileSync(p, instance('diff-1', '{role: test}', '{paused: true}'));
    const changed = await hqctl(server, ['diff', '-f', p]);
    expect(changed.code).toBe(1);
    const id = 'haproxyhq.io.v1alpha1.HAProxyInstance.default.diff-1';
    expect(changed.stdout).toContain(`diff -u -N live/${id} merged/${id}\n--- live/${id}\n+++ merged/${id}\n`);
    expect(changed.stdout).toMatch(/^-  paused: false$/m);
    expect(changed.stdout).toMatch(/^\+  paused: true$/m);
    // diff writes nothing.
    expect((await request(server, 'GET', `${NS}/haproxyinstances/diff-1`)).body.spec.paused).toBe(false);

    const created = await hqctl(server, ['diff', '-f', file('new.yaml', instance('diff-new'))]);
    expect(created.code).toBe(1);
    expect(created.stdout).toMatch(/^\+  name: diff-new$/m);

    const missing = await hqctl(server, ['diff', '-f', 'nope.yaml']);
    expect(missing).toEqual({ code: 2, stdout: '', stderr: 'error: the path "nope.yaml" does not exist\n' });
  });
});

describe('hqctl delete', () => {
  it('deletes by name, TYPE/NAME, -f and -l, and reports what is not there', async () => {
    const p = file('del.yaml', [instance('del-1'), instance('del-2'), instance('del-3', '{role: doomed}'), instance('del-4', '{role: doomed}')].join('---\n'));
    expect((await hqctl(server, ['apply', '-f', p])).code).toBe(0);

    expect(await hqctl(server, ['delete', 'haproxyinstance', 'del-1'])).toEqual({
      code: 0,
      stdout: 'haproxyinstance.haproxyhq.io "del-1" deleted\n',
      stderr: '',
    });
    expect((await hqctl(server, ['delete', 'hi/del-2'])).stdout).toBe('haproxyinstance.haproxyhq.io "del-2" deleted\n');
    expect((await hqctl(server, ['delete', 'hi', '-l', 'role=doomed'])).stdout).toBe(
      'haproxyinstance.haproxyhq.io "del-3" deleted\nhaproxyinstance.haproxyhq.io "del-4" deleted\n',
    );

    const gone = await hqctl(server, ['delete', '-f', p]);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toBe(
      ['del-1', 'del-2', 'del-3', 'del-4'].map((n) => `Error from server (NotFound): haproxyinstances.haproxyhq.io "${n}" not found\n`).join(''),
    );
    expect((await hqctl(server, ['delete', '-f', p, '--ignore-not-found'])).code).toBe(0);

    expect((await hqctl(server, ['apply', '-f', p])).code).toBe(0);
    expect((await hqctl(server, ['delete', '-f', p])).stdout).toBe(
      ['del-1', 'del-2', 'del-3', 'del-4'].map((n) => `haproxyinstance.haproxyhq.io "${n}" deleted\n`).join(''),
    );
    expect(await exists('haproxyinstances', 'del-1')).toBe(false);
  });

  it('needs a name, a selector or --all', async () => {
    const r = await hqctl(server, ['delete', 'hi']);
    expect(r).toEqual({ code: 1, stdout: '', stderr: 'error: resource(s) were provided, but no name was specified: give names, -l SELECTOR or --all\n' });
  });
});
