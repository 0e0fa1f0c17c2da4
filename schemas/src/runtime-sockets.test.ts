import { describe, expect, it } from 'vitest';
import { findTcpRuntimeSockets, isLocalSocketAddress } from './runtime-sockets.ts';

describe('runtime sockets on TCP', () => {
  it('accepts UNIX sockets in every spelling HAProxy takes', () => {
    for (const a of ['/run/haproxy/admin.sock', './admin.sock', 'unix@/run/x.sock', 'abns@hq', 'fd@3', 'sockpair@4', '"/run/a b.sock"', '{{ values.sock }}']) {
      expect(isLocalSocketAddress(a), a).toBe(true);
    }
  });

  it('refuses every network address, with the line and what to do', () => {
    for (const a of ['ipv4@0.0.0.0:9999', 'ipv6@[::]:9999', '127.0.0.1:9999', '*:9999', ':9999', '[::1]:9999', 'tcp@localhost:1', 'localhost:9999', '10.0.0.1:1234']) {
      expect(isLocalSocketAddress(a), a).toBe(false);
    }
    const found = findTcpRuntimeSockets('global\n    stats socket /run/haproxy/admin.sock mode 600 level admin\n    stats socket ipv4@0.0.0.0:9999 level admin\n# stats socket 1.2.3.4:5 (a comment)\n');
    expect(found).toEqual([
      { line: 3, address: 'ipv4@0.0.0.0:9999', message: expect.stringMatching(/^line 3: "stats socket ipv4@0\.0\.0\.0:9999" would expose HAProxy's runtime API on the network.*use a UNIX socket path/) },
    ]);
  });
});
