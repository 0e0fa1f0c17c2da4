import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { COMMANDS, main } from './main.ts';

/** main() in-process, for what needs no server: help, completion, argument errors. */
async function run(...argv: string[]) {
  let stdout = '';
  let stderr = '';
  const code = await main(argv, {
    out: (t) => void (stdout += t),
    err: (t) => void (stderr += t),
    stdin: () => '',
    env: {},
    interrupted: new Promise(() => {}),
  });
  return { code, stdout, stderr };
}

const dir = mkdtempSync(join(tmpdir(), 'hqctl-main-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('hqctl without a server', () => {
  it('lists every verb, and every verb has --help with its usage and flags', async () => {
    const top = await run('--help');
    expect(top.code).toBe(0);
    for (const c of COMMANDS) {
      expect(top.stdout).toMatch(new RegExp(`^  ${c.name}\\s+${c.summary.replace(/[()|]/g, '\\$&')}$`, 'm'));
      for (const form of [[c.name, '--help'], ['help', c.name], [c.name, '-h']]) {
        const h = await run(...form);
        expect(h.code).toBe(0);
        expect(h.stdout).toMatch(new RegExp(`Usage:\\n {2}hqctl ${c.name}`));
        expect(h.stdout).toMatch(/Global flags:\n.*--kubeconfig=KUBECONFIG/s);
      }
    }
    expect((await run('get', '--help')).stdout).toMatch(/^ {2}-o, --output=FORMAT\s+FORMAT: yaml, json, wide, name/m);
  });

  it('names unknown verbs and flags as kubectl does', async () => {
    expect(await run('frob')).toEqual({ code: 1, stdout: '', stderr: 'error: unknown command "frob" for "hqctl"\nRun \'hqctl --help\' for usage.\n' });
    expect(await run('get', 'hi', '--frob')).toEqual({ code: 1, stdout: '', stderr: "error: unknown flag: --frob\nSee 'hqctl get --help' for usage.\n" });
    expect(await run('get')).toMatchObject({ code: 1, stderr: expect.stringMatching(/^error: you must specify the type of resource to get: haproxyinstances \(/) });
    expect(await run('weight', 'edge-1', 'app/a1', '300')).toMatchObject({ code: 1, stderr: expect.stringMatching(/^error: weight must be a whole number from 0 to 256, not "300"/) });
    expect(await run('drain', 'edge-1', 'app')).toMatchObject({ code: 1, stderr: expect.stringMatching(/^error: "app" is not BACKEND\/SERVER/) });
    expect(await run('rollout', 'status', 'hi/edge-1')).toMatchObject({ code: 1, stderr: 'error: rollout is supported for haproxyconfigs only, not haproxyinstances\n' });
    expect(await run('rollout', 'status', '--timeout', 'soon', 'hc/web')).toMatchObject({ code: 1, stderr: expect.stringMatching(/invalid argument "soon" for "--timeout" flag/) });
  });

  it('completion scripts run in bash and complete verbs, types, subcommands and flags', async () => {
    const bash = await run('completion', 'bash');
    const script = join(dir, 'hqctl.bash');
    writeFileSync(script, bash.stdout);
    const complete = (words: string) =>
      new Promise<string>((resolve, reject) =>
        execFile('bash', ['-c', `source ${script}; COMP_WORDS=(${words}); COMP_CWORD=$((\${#COMP_WORDS[@]}-1)); _hqctl; echo "\${COMPREPLY[*]}"`], (err, stdout) =>
          err ? reject(err) : resolve(stdout.trim()),
        ),
      );
    expect(await complete('hqctl ro')).toBe('rollout');
    expect(await complete('hqctl get haproxyc')).toBe('haproxyconfigs');
    expect(await complete('hqctl -n prod rollout st')).toBe('status');
    expect(await complete('hqctl get hi --show-l')).toBe('--show-labels');
    expect(await complete('hqctl get hi -o w')).toBe('wide');
    const zsh = await run('completion', 'zsh');
    expect(zsh.stdout.startsWith('#compdef hqctl\nautoload -U +X bashcompinit && bashcompinit\n')).toBe(true);
    expect(await run('completion', 'fish')).toEqual({ code: 1, stdout: '', stderr: 'error: hqctl completion takes one argument: bash or zsh\n' });
  });
});
