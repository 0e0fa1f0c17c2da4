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

  it('takes a join token with the server and its CA, never with an explicit kubeconfig', () => {
    const c = parseAgentConfig(['--name', 'edge-1', '--join-token', 'hqj_x', '--server', 'https://hq:8080', '--certificate-authority', '/etc/hq-agent/ca.crt'], {});
    expect(c).toMatchObject({ command: 'run', joinToken: 'hqj_x', server: 'https://hq:8080', certificateAuthority: '/etc/hq-agent/ca.crt', kubeconfig: undefined });
    const e = parseAgentConfig(['enroll', '--name', 'edge-1'], { HQ_JOIN_TOKEN: 'hqj_y', HQ_SERVER: 'https://hq:8080', HQ_CERTIFICATE_AUTHORITY: '/ca.pem', KUBECONFIG: '/k' });
    expect(e).toMatchObject({ command: 'enroll', joinToken: 'hqj_y', certificateAuthority: '/ca.pem', kubeconfig: undefined, envKubeconfig: '/k' });
    expect(() => parseAgentConfig(['--name', 'a', '--join-token', 'hqj_x', '--server', 'https://hq', '--certificate-authority', '/ca', '--kubeconfig', '/k'], {})).toThrow(/--join-token enrolls into STATE-DIR\/kubeconfig: drop --kubeconfig/);
    expect(() => parseAgentConfig(['--name', 'a', '--join-token', 'hqj_x'], {})).toThrow(/--join-token needs --server URL/);
    expect(() => parseAgentConfig(['--name', 'a', '--join-token', 'hqj_x', '--server', 'https://hq'], {})).toThrow(/--join-token needs --certificate-authority FILE/);
    expect(() => parseAgentConfig(['enroll', '--name', 'a'], {})).toThrow(/enroll needs --join-token/);
    expect(parseAgentConfig(['rotate-credentials', '--name', 'a'], {}).command).toBe('rotate-credentials');
  });
});
