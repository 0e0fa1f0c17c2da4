import { describe, expect, it } from 'vitest';
import { CompletionContext, type CompletionResult } from '@codemirror/autocomplete';
import { EditorState } from '@codemirror/state';
import { completionPlace, haproxyCompletions } from './completion.ts';
import { keywordData, keywordIndex } from './keywords/index.ts';

const CONFIG = `global
    maxconn 1000

defaults
    mode http

frontend www
    bind :443 ssl crt /etc/haproxy/site.pem
    acl is_api path_beg /api
    acl is_admin src 10.0.0.0/8
    use_backend api if is_api

backend api
    balance roundrobin
    server s1 10.0.0.1:8080 check

backend static
    server s2 10.0.0.2:80
`;

const index = keywordIndex(keywordData('2.6.12-1+deb12u2'));

/**
 * Runs the completion source with the cursor where `|` is in `doc` (the marker is removed).
 * Explicit, as after Ctrl-Space, unless told otherwise.
 */
function complete(doc: string, explicit = true): CompletionResult | null {
  const pos = doc.indexOf('|');
  const state = EditorState.create({ doc: doc.slice(0, pos) + doc.slice(pos + 1), selection: { anchor: pos } });
  return haproxyCompletions('2.6.12-1+deb12u2')(new CompletionContext(state, pos, explicit)) as CompletionResult | null;
}

/** The document with a new line `line` appended to the section that starts at `header`. */
const withLine = (header: string, line: string) => CONFIG.replace(`${header}\n`, `${header}\n${line}\n`);
const labels = (r: CompletionResult | null) => r?.options.map((o) => o.label) ?? [];

describe('keyword completion', () => {
  it('offers the keywords of the section the cursor is in, with the manual summary and section as info', () => {
    const r = complete(withLine('backend api', '    bal|'));
    expect(r?.from).toBe(withLine('backend api', '    bal|').indexOf('bal|'));
    const balance = r?.options.find((o) => o.label === 'balance');
    expect(balance?.info).toBe('Define the load balancing algorithm to be used in a backend.\nconfiguration.txt §4.2');
    expect(balance?.detail).toBe('<algorithm> [ <arguments> ]');
    expect(labels(r)).toContain('server');
    expect(labels(r)).toContain('option redispatch');
    expect(labels(r)).not.toContain('bind');
    expect(labels(r)).not.toContain('global');
  });

  it('does not offer backend-only keywords in a frontend, nor proxy keywords in global', () => {
    const frontend = labels(complete(withLine('frontend www', '    |')));
    expect(frontend).toContain('bind');
    expect(frontend).toContain('default_backend');
    expect(frontend).not.toContain('balance');
    expect(frontend).not.toContain('server');
    const global = labels(complete(withLine('global', '    |')));
    expect(global).toContain('maxconn');
    expect(global).toContain('stats socket');
    expect(global).not.toContain('balance');
  });

  it('offers section keywords at column 0, ahead of the keywords, and alone before any section', () => {
    const r = complete(withLine('backend api', 'ba|'));
    expect(labels(r)).toContain('backend');
    expect(labels(r)).toContain('balance');
    expect(r?.options.find((o) => o.label === 'backend')?.boost).toBe(1);
    expect(r?.options.find((o) => o.label === 'resolvers')?.info).toMatch(/configuration.txt §5\.3\.2$/);
    expect(labels(complete(`fr|\n${CONFIG}`)).sort()).toEqual(Object.keys(index.data.sections).sort());
  });

  it('completes the second word of multi-word keywords', () => {
    const r = complete(withLine('defaults', '    option http|'));
    expect(labels(r)).toContain('httplog');
    expect(labels(r)).toContain('forwardfor');
    expect(labels(r)).not.toContain('option httplog');
    expect(r?.options.find((o) => o.label === 'httplog')?.info).toMatch(/^Enable logging of HTTP request/);
    expect(labels(complete(withLine('defaults', '    timeout |')))).toContain('connect');
    expect(labels(complete(withLine('backend api', '    no option |')))).toContain('redispatch');
    expect(labels(complete(withLine('backend api', '    no opt|')))).toContain('option redispatch');
  });

  it('offers server options after "server NAME ADDR" and on default-server lines', () => {
    const r = complete(CONFIG.replace('server s1 10.0.0.1:8080 check', 'server s1 10.0.0.1:8080 check in|'));
    expect(labels(r)).toContain('inter');
    expect(r?.options.find((o) => o.label === 'check')?.info).toMatch(/configuration.txt §5\.2$/);
    expect(labels(complete(withLine('backend api', '    default-server |')))).toContain('check');
    // The name and the address are the operator's own: nothing to offer there.
    expect(complete(CONFIG.replace('server s1 10.0.0.1:8080', 'server s1 |10.0.0.1:8080'))).toBeNull();
  });

  it('offers bind options after "bind ADDR"', () => {
    const r = complete(CONFIG.replace('bind :443 ssl', 'bind :443 ssl |'));
    expect(labels(r)).toContain('crt');
    expect(labels(r)).toContain('alpn');
    expect(labels(r)).not.toContain('inter');
    expect(r?.options.find((o) => o.label === 'ssl')?.info).toMatch(/§5\.1$/);
  });

  it('offers actions after http-request and tcp-request content', () => {
    const r = complete(withLine('frontend www', '    http-request set-|'));
    expect(labels(r)).toContain('set-header');
    expect(labels(r)).toContain('set-var');
    expect(labels(complete(withLine('frontend www', '    tcp-request content |')))).toContain('accept');
    expect(labels(complete(withLine('frontend www', '    tcp-request |')))).toContain('content');
  });

  it('offers sample fetches inside %[ and converters after a comma', () => {
    const fetches = complete(withLine('frontend www', '    http-request set-header X-Host %[req.h|'));
    expect(labels(fetches)).toContain('req.hdr');
    expect(labels(fetches)).not.toContain('lower');
    expect(fetches?.options.find((o) => o.label === 'req.hdr')?.detail).toBe('([<name>[,<occ>]]) : string');
    const converters = complete(withLine('frontend www', '    http-request set-header X-Host "%[req.hdr(host),lo|]"'));
    expect(labels(converters)).toContain('lower');
    expect(labels(converters)).not.toContain('req.hdr');
    // Typing "%[" is asking for a fetch, even without Ctrl-Space.
    expect(labels(complete(withLine('frontend www', '    http-request set-var(txn.a) %[|'), false))).toContain('src');
  });

  it('offers ACL criteria in acl lines and anonymous ACLs, and declared ACL names after if', () => {
    const acl = labels(complete(withLine('frontend www', '    acl static path_b|')));
    expect(acl).toContain('path_beg');
    expect(labels(complete(withLine('frontend www', '    http-request deny if { sr|')))).toContain('src');
    const names = labels(complete(withLine('frontend www', '    http-request deny if is_api |')));
    expect(names.sort()).toEqual(['is_admin', 'is_api']);
  });

  it('offers the backends the config declares after use_backend', () => {
    expect(labels(complete(withLine('frontend www', '    use_backend st|')))).toEqual(['api', 'static']);
  });

  it('stays quiet in comments, section names, and after a space unless asked', () => {
    expect(complete(withLine('backend api', '    # bal|'))).toBeNull();
    expect(complete(CONFIG.replace('backend static', 'backend sta|tic'))).toBeNull();
    expect(complete(withLine('backend api', '    balance |'), false)).toBeNull();
    expect(complete(withLine('backend api', '    |'), false)).toBeNull();
  });

  it('describes places without a view: completionPlace is pure', () => {
    const doc = withLine('backend api', '    server s3 10.0.0.3:80 ');
    const state = EditorState.create({ doc });
    const pos = doc.indexOf('10.0.0.3:80 ') + '10.0.0.3:80 '.length;
    expect(completionPlace(state, pos, index)).toEqual({ kind: 'server-option', from: pos });
  });
});
