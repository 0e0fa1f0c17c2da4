import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { haproxyBin } from '../../agent/test/support/haproxy.ts';
import type { KeywordData } from '../src/editor/keywords/types.ts';
import { findManual, generate, keywordsFile, readManual } from './generate-keywords.ts';
import { firstSentence, manualVersion, parseManual } from './haproxy-manual.ts';

const run = promisify(execFile);
const script = join(import.meta.dirname, 'generate-keywords.ts');
const installed = findManual();
const committed = JSON.parse(readFileSync(keywordsFile('2.6'), 'utf8')) as KeywordData;

/** A manual in configuration.txt's layout, small enough to read in the test. */
const MINI_MANUAL = `                         ----------------------
                                HAProxy
                          Configuration Manual
                         ----------------------
                              version 9.9
                              2030/01/02

3. Global parameters
--------------------

Parameters in the "global" section are process-wide. They are set once.

 * Process management and security
   - daemon
   - stats

 * Performance tuning
   - maxconn

3.1. Process management and security
------------------------------------

daemon
  Makes the process fork into background. This is the recommended mode.

stats socket [<address:port>|<path>] [param*]
  Binds a UNIX socket to <path> or a TCP socket to <address:port>.

3.2. Performance tuning
-----------------------

maxconn <number>
  Sets the maximum per-process number of concurrent connections, e.g. 1000.
  It is equivalent to the command-line argument "-n".

3.4. Userlists
--------------
It is possible to control access with users.

userlist <listname>
  Creates new userlist with name <listname>.

user <username> [password|insecure-password <password>]
                [groups <group>,<group>,(...)]
  Adds user <username> to the current userlist.

4. Proxies
----------

A "frontend" section describes a set of listening sockets accepting client
connections.

A "backend" section describes a set of servers.

4.1. Proxy keywords matrix
--------------------------

 keyword                              defaults   frontend   listen    backend
------------------------------------+----------+----------+---------+---------
balance                                   X          -         X         X
http-request                              X (!)      X         X         X
option httplog                            X          X         X         -
stats uri                                 X          X         X         X
timeout client                            X          X         X         -

4.2. Alphabetically sorted keywords reference
---------------------------------------------

balance <algorithm> [ <arguments> ]
  Define the load balancing algorithm to be used in a backend.
  May be used in sections :   defaults | frontend | listen | backend
                                 yes   |    no    |   yes  |   yes

hash-type <method> <function> <modifier>
  Specify a method to use for mapping hashes to servers.
  May be used in sections :   defaults | frontend | listen | backend
                                 yes   |    no    |   yes  |   yes

http-request <action> [options...] [ { if | unless } <condition> ]
  Access control for Layer 7 requests

http-request set-header <name> <fmt> [ { if | unless } <condition> ]

  This does the same as "http-request add-header" except that the header name
  is first removed if it existed.

option httplog [ clf ]
  Enable logging of HTTP request, session state and timers
  May be used in sections :   defaults | frontend | listen | backend
                                 yes   |    yes   |   yes  |   no

5.1. Bind options
-----------------

ssl
  This setting is only available when support for OpenSSL was built in. It
  enables SSL deciphering on connections instantiated from this listener.

5.2. Server and default-server options
------------------------------------

check
  This option enables health checks on a server.

7.3. Fetching samples
---------------------

7.3.1. Converters
-----------------

lower
  Convert a string sample to lower case.

7.3.6. Fetching HTTP samples (Layer 7)
--------------------------------------

path : string
  This extracts the request's URL path.

  ACL derivatives :
    path     : exact string match
    path_beg : prefix match
`;

describe('parseManual', () => {
  const data = parseManual(MINI_MANUAL);

  it('reads the version and date from the title block', () => {
    expect(manualVersion(MINI_MANUAL)).toEqual({ version: '9.9', date: '2030/01/02' });
    expect(data.version).toBe('9.9');
  });

  it('takes global keywords from the list and their summaries from the subchapters', () => {
    expect(data.sections['global']?.keywords?.['maxconn']).toEqual([
      'Sets the maximum per-process number of concurrent connections, e.g. 1000.',
      '3.2',
      'maxconn <number>',
    ]);
    // The list's bare "stats" gives way to the multi-word form the manual describes.
    expect(Object.keys(data.sections['global']?.keywords ?? {})).toEqual(['daemon', 'maxconn', 'stats socket']);
  });

  it('finds sections with a chapter of their own and their keywords, joining continued usage lines', () => {
    const userlist = data.sections['userlist'];
    expect(userlist?.manual).toBe('3.4');
    expect(userlist?.keywords?.['user']?.[2]).toBe('user <username> [password|insecure-password <password>] [groups <group>,<group>,(...)]');
  });

  it('places proxy keywords with the matrix, or the "May be used in sections" table when the matrix lacks them', () => {
    expect(data.proxyKeywords['balance']?.[3]).toBe('dlb');
    expect(data.proxyKeywords['option httplog']?.slice(0, 2)).toEqual(['Enable logging of HTTP request, session state and timers', '4.2']);
    expect(data.proxyKeywords['hash-type']?.[3]).toBe('dlb');
    // In the matrix but not described: still known, without a summary.
    expect(data.proxyKeywords['timeout client']).toEqual(['', '4.2', 'timeout client', 'dfl']);
    expect(data.sections['frontend']?.summary).toBe('A "frontend" section describes a set of listening sockets accepting client connections.');
  });

  it('reads rule actions from usage lines, even with a blank line before their description', () => {
    expect(data.actions['http-request']?.['set-header']?.[0]).toBe(
      'This does the same as "http-request add-header" except that the header name is first removed if it existed.',
    );
    expect(data.proxyKeywords['http-request set-header']).toBeUndefined();
  });

  it('skips "only available when built with" boilerplate in summaries', () => {
    expect(data.bindOptions['ssl']?.[0]).toBe('It enables SSL deciphering on connections instantiated from this listener.');
    expect(data.serverOptions['check']?.[1]).toBe('5.2');
  });

  it('separates fetches, converters and ACL-only derivatives', () => {
    expect(data.fetches['path']?.[2]).toBe('path : string');
    expect(data.converters['lower']?.[0]).toBe('Convert a string sample to lower case.');
    expect(Object.keys(data.aclCriteria)).toEqual(['path_beg']);
  });

  it('rejects text that is not the manual', () => {
    expect(() => parseManual('hello\nworld\n')).toThrow(/not an HAProxy configuration manual/);
  });

  it('ends first sentences at periods but not at abbreviations', () => {
    expect(firstSentence('Use it, e.g. for tests, or not. Second.')).toBe('Use it, e.g. for tests, or not.');
  });
});

describe('the committed haproxy-2.6.json', () => {
  const global = committed.sections['global']?.keywords ?? {};

  it('has global keywords in the global section', () => {
    expect(global['maxconn']?.[1]).toBe('3.2');
    expect(global['stats socket']).toBeDefined();
    expect(global['balance']).toBeUndefined();
  });

  it('knows balance in backends and not in frontends', () => {
    const where = committed.proxyKeywords['balance']?.[3];
    expect(where).toContain('b');
    expect(where).not.toContain('f');
    expect(committed.proxyKeywords['bind']?.[3]).toBe('fl');
    expect(committed.proxyKeywords['default_backend']?.[3]).toBe('dfl');
  });

  it('has server and bind options', () => {
    expect(committed.serverOptions['check']?.[1]).toBe('5.2');
    expect(committed.serverOptions['inter']).toBeDefined();
    expect(committed.bindOptions['ssl']?.[1]).toBe('5.1');
    expect(committed.bindOptions['crt']).toBeDefined();
    expect(committed.bindOptions['check']).toBeUndefined();
  });

  it('has the other section types, actions, fetches and converters', () => {
    for (const s of ['peers', 'resolvers', 'userlist', 'mailers', 'program', 'http-errors', 'ring', 'cache', 'log-forward', 'fcgi-app']) {
      expect(Object.keys(committed.sections[s]?.keywords ?? {}).length, s).toBeGreaterThan(0);
    }
    expect(committed.sections['resolvers']?.keywords?.['nameserver']).toBeDefined();
    expect(committed.actions['http-request']?.['set-header']).toBeDefined();
    expect(committed.actions['http-request']?.['cache-use']).toBeDefined();
    expect(committed.actions['http-response']?.['cache-store']).toBeDefined();
    expect(committed.actions['tcp-request content']?.['accept']).toBeDefined();
    expect(committed.fetches['req.hdr']?.[1]).toBe('7.3.6');
    expect(committed.converters['map_beg']).toBeDefined();
    expect(committed.aclCriteria['path_beg']).toBeDefined();
  });
});

// Never skipped: the manual comes with Debian's haproxy package, which the test support installs
// when missing (as every test needing HAProxy does).
describe('generate-keywords.ts against the installed manual', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'hq-keywords-'));
  let text = '';
  let version: string | undefined;
  beforeAll(async () => {
    await haproxyBin();
    const manual = installed ?? findManual();
    if (!manual) throw new Error('HAProxy is installed but its manual (/usr/share/doc/haproxy/configuration.txt[.gz]) is not: is /usr/share/doc excluded from dpkg here?');
    text = readManual(manual);
    version = manualVersion(text)?.version;
  }, 600_000);
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('produces exactly the committed file for the installed version', () => {
    const { file, content } = generate(text);
    expect(file).toBe(keywordsFile(version!));
    expect(existsSync(file), `no committed keyword data for HAProxy ${version}: run node console/scripts/generate-keywords.ts and commit ${file}`).toBe(true);
    expect(content).toBe(readFileSync(file, 'utf8'));
  });

  it('--check passes on the installed manual and fails on one that says something else', async () => {
    const ok = await run(process.execPath, [script, '--check']);
    expect(ok.stdout).toMatch(/up to date/);
    const edited = join(tmp, 'configuration.txt');
    writeFileSync(edited, text.replace('Sets the maximum per-process number of concurrent connections', 'Sets a different limit'));
    await expect(run(process.execPath, [script, '--check', '--manual', edited])).rejects.toMatchObject({ code: 1 });
  });
});
