import { describe, expect, it } from 'vitest';
import { parseAgentConfig } from './config.ts';

describe('parseAgentConfig', () => {
  it('uses DESIGN defaults, env, then flags', () => {
    const d = parseAgentConfig(['--name', 'edge-1'], {});
    expect(d).toMatchObject({ command: 'run', haproxyConfig: '/etc/haproxy/haproxy.cfg', masterSocket: '/run/haproxy-master.sock', haproxyBin: 'haproxy' });
    const e = parseAgentConfig(['pull'], { HQ_INSTANCE_NAME: 'edge-2', HQ_HAPROXY_CONFIG: '/x.cfg', HQ_LABELS: 'role=edge,haproxyhq.io/zone=a' });
    expect(e).toMatchObject({ command: 'pull', name: 'edge-2', haproxyConfig: '/x.cfg', labels: { role: 'edge', 'haproxyhq.io/zone': 'a' } });
    expect(parseAgentConfig(['--name', 'flag'], { HQ_INSTANCE_NAME: 'env' }).name).toBe('flag');
  });

  it('refuses bad input with a message naming it', () => {
    expect(() => parseAgentConfig(['--name', 'Bad_Name'], {})).toThrow(/"Bad_Name" is not a DNS-1123 subdomain/);
    expect(() => parseAgentConfig(['--name', 'a', '--labels', 'role'], {})).toThrow(/--labels: "role" is not key=value/);
    expect(() => parseAgentConfig(['--name', 'a', '--coalesce-ms', 'soon'], {})).toThrow(/--coalesce-ms must be a whole number/);
    expect(() => parseAgentConfig(['deploy'], {})).toThrow(/unknown command "deploy"/);
    expect(() => parseAgentConfig(['--frobnicate'], {})).toThrow(/frobnicate/);
  });
});
