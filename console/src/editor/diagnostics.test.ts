import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { haproxyBin } from '../../../agent/test/support/haproxy.ts';
import { Text } from '@codemirror/state';
import { applyErrorDiagnostics, diagnosticsFromApplyErrors, diagnosticsFromStatus, lintConfig, toDiagnostics } from './diagnostics.ts';
import { keywordData, keywordIndex } from './keywords/index.ts';

const CONFIG = `global
    maxconn 100
    bogus-global on

defaults
    mode http
    timeout client 10s
    timeout server 10s
    timeout connect 5s

frontend www
    bind 127.0.0.1:18080
    bogus-directive yes
    balance roundrobin
    use_backend app if { path_beg /api }
    default_backend app

backend app
    server s1 127.0.0.1:9000 check inter 2s bogusopt
    http-request set-header X-Test %[src] if { wrong_fetch }
`;
const doc = Text.of(CONFIG.split('\n'));

/** What `haproxy -c -f /etc/haproxy/haproxy.cfg` (2.6.12) prints for CONFIG, as the agent reports it: alerts without their prefix. */
const AGENT_MESSAGE = [
  "config : parsing [/etc/haproxy/haproxy.cfg:3] : unknown keyword 'bogus-global' in 'global' section; did you mean 'global' maybe ?",
  "config : parsing [/etc/haproxy/haproxy.cfg:13] : unknown keyword 'bogus-directive' in 'frontend' section",
  "config : [/etc/haproxy/haproxy.cfg:19] : 'server app/s1' : unknown keyword 'bogusopt'.",
  "config : parsing [/etc/haproxy/haproxy.cfg:20] : error detected while parsing an 'http-request set-header' condition : unknown fetch method 'wrong_fetch' in ACL expression 'wrong_fetch'.",
  'config : Error(s) found in configuration file : /etc/haproxy/haproxy.cfg',
].join('\n');

const textAt = (d: { from: number; to: number }) => CONFIG.slice(d.from, d.to);
const lineOf = (d: { from: number }) => doc.lineAt(d.from).number;

describe('agent apply errors', () => {
  it('places every alert at the line HAProxy names, underlining the word it quotes', () => {
    const diags = toDiagnostics(doc, applyErrorDiagnostics({ revision: 'edge-3', message: AGENT_MESSAGE, file: 'haproxy.cfg', line: 3 }));
    expect(diags.map((d) => [lineOf(d), textAt(d), d.severity])).toEqual([
      [3, 'bogus-global', 'error'],
      [13, 'bogus-directive', 'error'],
      [19, 'bogusopt', 'error'],
      [20, 'wrong_fetch', 'error'],
    ]);
    expect(diags[1]!.message).toBe("config : parsing [/etc/haproxy/haproxy.cfg:13] : unknown keyword 'bogus-directive' in 'frontend' section");
    expect(diags[0]!.source).toBe('haproxy -c');
  });

  it('reads the raw [ALERT]/[WARNING] output too, and the column of an unmatched quote', () => {
    const raw = [
      '[NOTICE]   (3729) : haproxy version is 2.6.12-1+deb12u3',
      '[WARNING]  (3729) : config : parsing [haproxy.cfg:14] : \'balance\' ignored because frontend \'www\' has no backend capability.',
      '[ALERT]    (3729) : config : parsing [haproxy.cfg:12]: unmatched quote at position 10:',
      '    bind 127.0.0.1:18080',
      '         ^',
      '[ALERT]    (3729) : config : Fatal errors found in configuration.',
    ].join('\n');
    const diags = applyErrorDiagnostics({ message: raw });
    expect(diags).toEqual([
      {
        line: 14,
        severity: 'warning',
        message: "config : parsing [haproxy.cfg:14] : 'balance' ignored because frontend 'www' has no backend capability.",
        source: 'haproxy -c',
        tokens: ['balance', 'www'],
      },
      { line: 12, column: 10, severity: 'error', message: 'config : parsing [haproxy.cfg:12]: unmatched quote at position 10', source: 'haproxy -c' },
    ]);
    const placed = toDiagnostics(doc, diags);
    expect(textAt(placed[0]!)).toBe('balance');
    expect(textAt(placed[1]!)).toBe('127.0.0.1:18080');
  });

  it('leaves places in other files (maps, error pages) unlocated, and keeps the summary when it is all there is', () => {
    const diags = applyErrorDiagnostics({
      message: "config : parsing [/etc/haproxy/maps/hosts.map:4] : bad entry\nconfig : Error(s) found in configuration file : /etc/haproxy/haproxy.cfg",
      file: 'maps/hosts.map',
      line: 4,
    });
    expect(diags).toHaveLength(1);
    expect(diags[0]!.line).toBeUndefined();
    // Shown on the first line, whole.
    expect(toDiagnostics(doc, diags)[0]).toMatchObject({ from: 0, to: 'global'.length, severity: 'error' });
    expect(applyErrorDiagnostics({ message: 'config : Fatal errors found in configuration.' })).toHaveLength(1);
  });

  it('uses the line the agent recorded when the message names none', () => {
    const diags = applyErrorDiagnostics({ message: 'reload failed: the new worker exited', file: 'haproxy.cfg', line: 16 });
    expect(diags[0]!.line).toBe(16);
    expect(textAt(toDiagnostics(doc, diags)[0]!)).toBe('default_backend app');
  });

  it('shows the same error from several instances once, naming them', () => {
    const error = { message: AGENT_MESSAGE.split('\n')[1]!, file: 'haproxy.cfg' };
    const other = { message: AGENT_MESSAGE.split('\n')[1]!.replace('/etc/haproxy/', '/opt/lb/'), file: 'haproxy.cfg' };
    const diags = diagnosticsFromApplyErrors([
      { instance: 'edge-1', error },
      { instance: 'edge-2', error: other },
      { instance: 'edge-3', error: { message: AGENT_MESSAGE.split('\n')[0]!, file: 'haproxy.cfg' } },
    ]);
    expect(diags.map((d) => [d.line, d.source])).toEqual([
      [13, 'haproxy -c on edge-1, edge-2'],
      [3, 'haproxy -c on edge-3'],
    ]);
  });
});

describe('API server 422', () => {
  const status = {
    kind: 'Status' as const,
    apiVersion: 'v1' as const,
    metadata: {},
    status: 'Failure' as const,
    code: 422,
    reason: 'Invalid',
    details: {
      causes: [
        { reason: 'FieldValueInvalid', field: 'spec.config', message: 'haproxy.cfg:16:21: cannot parse "{{ valuez.x }}": expected name, namespace, labels.KEY or values.KEY, optionally followed by | default "text"' },
        { reason: 'FieldValueInvalid', field: 'spec.config', message: 'must not contain NUL bytes' },
        { reason: 'FieldValueDuplicate', field: 'spec.files[1].path', message: 'Duplicate value: "maps/a.map"' },
      ],
    },
  };

  it('places template errors at their line and column, underlining the placeholder', () => {
    const templated = Text.of(CONFIG.replace('default_backend app', 'default_backend {{ valuez.x }}').split('\n'));
    const diags = diagnosticsFromStatus(status);
    expect(diags.map((d) => [d.line, d.column])).toEqual([
      [16, 21],
      [undefined, undefined],
    ]);
    const placed = toDiagnostics(templated, diags);
    expect(templated.sliceString(placed[0]!.from, placed[0]!.to)).toBe('{{ valuez.x }}');
    expect(placed[0]!.source).toBe('api-server');
    expect(placed[1]).toMatchObject({ from: 0, message: 'must not contain NUL bytes' });
  });

  it('ignores causes about other fields and Statuses without causes', () => {
    expect(diagnosticsFromStatus(status, { field: 'spec.files[1].path' })).toHaveLength(1);
    expect(diagnosticsFromStatus({ details: undefined })).toEqual([]);
  });

  it('clamps lines past the end of the text and says so', () => {
    const [d] = toDiagnostics(Text.of(['global']), [{ line: 40, severity: 'error', message: 'x' }]);
    expect(d).toMatchObject({ from: 0, to: 6, message: 'x (line 40 is past the end of this text)' });
  });
});

describe('lint against the manual', () => {
  const index = keywordIndex(keywordData('2.6'));

  it('warns about keywords unknown in their section, never errs', () => {
    const diags = lintConfig(doc, index);
    expect(diags.map((d) => [lineOf(d), textAt(d), d.severity, d.message])).toEqual([
      [3, 'bogus-global', 'warning', "unknown keyword 'bogus-global' in global section (HAProxy 2.6)"],
      [13, 'bogus-directive', 'warning', "unknown keyword 'bogus-directive' in frontend section (HAProxy 2.6)"],
      [14, 'balance', 'warning', "unknown keyword 'balance' in frontend section (HAProxy 2.6)"],
    ]);
  });

  it('checks the second word of option/timeout keywords, and knows no/default prefixes', () => {
    const text = Text.of(['defaults', '    option httplog', '    no option redispatch', '    option bogus', '    timeout clinet 5s', '    timeout client 5s'].join('\n').split('\n'));
    const diags = lintConfig(text, index);
    expect(diags.map((d) => [text.lineAt(d.from).number, text.sliceString(d.from, d.to), d.message])).toEqual([
      [4, 'bogus', "unknown keyword 'option bogus' in defaults section (HAProxy 2.6)"],
      [5, 'clinet', "unknown keyword 'timeout clinet' in defaults section (HAProxy 2.6)"],
    ]);
  });

  it('leaves alone comments, conditional blocks, templated keywords, and sections the data does not know', () => {
    const text = Text.of(
      [
        '# comment',
        'global',
        '.if defined(HAPROXY_MWORKER)',
        '    {{ values.tuning }} 1',
        '.endif',
        'crt-store web',
        '    crt-base /etc/ssl',
        'backend b',
        '    server-template srv 3 app.local:80 check',
      ].join('\n').split('\n'),
    );
    expect(lintConfig(text, index).map((d) => d.message)).toEqual(["unknown section 'crt-store' (HAProxy 2.6)"]);
  });

  it('warns about keywords before any section', () => {
    const text = Text.of(['maxconn 10', 'global']);
    expect(lintConfig(text, index)[0]?.message).toMatch(/'maxconn' is outside any section/);
  });
});

// Proves the parsing against HAProxy's real output, not only against the copies above.
// Never skipped: the test support installs Debian's haproxy when it is missing.
describe('with the installed haproxy', () => {
    let haproxy = '';
    beforeAll(async () => {
      haproxy = await haproxyBin();
    }, 600_000);
    const dir = mkdtempSync(join(tmpdir(), 'hq-diag-'));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it('places the errors of a real `haproxy -c` at the lines they are about', async () => {
      const file = join(dir, 'haproxy.cfg');
      writeFileSync(file, CONFIG);
      const run = await promisify(execFile)(haproxy, ['-c', '-f', file]).then(
        () => ({ stderr: '', ok: true }),
        (err: { stderr: string }) => ({ stderr: err.stderr, ok: false }),
      );
      expect(run.ok).toBe(false);
      const diags = toDiagnostics(doc, applyErrorDiagnostics({ message: run.stderr }));
      expect(diags.filter((d) => d.severity === 'error').map((d) => [lineOf(d), textAt(d)])).toEqual([
        [3, 'bogus-global'],
        [13, 'bogus-directive'],
        [19, 'bogusopt'],
        [20, 'wrong_fetch'],
      ]);
      expect(diags.filter((d) => d.severity === 'warning').map(lineOf)).toEqual([14]);
    });
});
