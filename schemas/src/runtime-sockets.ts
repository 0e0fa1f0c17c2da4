/**
 * HAProxy's runtime API must never listen on TCP: whoever reaches it can change servers, maps
 * and certificates, or shut HAProxy down, with no authentication at all (Roxy-WI's exposed admin
 * socket is the cautionary tale). This finds `stats socket` lines whose address is not a UNIX
 * socket, so the server refuses such a config at apply time and the agent refuses to write one
 * after rendering. Environment-neutral: the server, the agent and the console share it.
 */

export interface TcpRuntimeSocket {
  /** 1-based line of haproxy.cfg. */
  line: number;
  address: string;
  message: string;
}

/** Address prefixes that stay on the host: UNIX sockets, the abstract namespace, inherited fds. */
const LOCAL = /^(unix@|abns@|abnsz@|fd@|sockpair@|uxst@|uxdg@)/;

/** Whether a `stats socket` address is a local socket (a path or a local prefix), not a network one. */
export function isLocalSocketAddress(address: string): boolean {
  const a = address.replace(/^["']|["']$/g, '');
  if (LOCAL.test(a)) return true;
  // A bare path: absolute, relative, or a template placeholder that renders one (checked again after rendering).
  if (/^(ipv4|ipv6|tcp|tcp4|tcp6|udp|udp4|udp6|quic4|quic6|rhttp)@/.test(a)) return false;
  if (a.startsWith('/') || a.startsWith('./') || a.startsWith('../')) return true;
  if (/^\{\{.*\}\}$/.test(a)) return true;
  // host:port, *:port, :port, [::1]:port, or a bare name HAProxy would resolve: all network.
  return !/:\d|^\*|^\[|^\d/.test(a) && !a.includes(':');
}

/** Every `stats socket` line of the config that would listen on a network address. */
export function findTcpRuntimeSockets(config: string): TcpRuntimeSocket[] {
  const out: TcpRuntimeSocket[] = [];
  config.split('\n').forEach((raw, i) => {
    const text = raw.replace(/(^|\s)#.*$/, '').trim();
    const m = /^stats\s+socket\s+(\S+)/.exec(text);
    if (!m) return;
    const address = m[1]!;
    if (isLocalSocketAddress(address)) return;
    out.push({
      line: i + 1,
      address,
      message: `line ${i + 1}: "stats socket ${address}" would expose HAProxy's runtime API on the network, where anyone who reaches it controls HAProxy without a password: use a UNIX socket path (e.g. /run/haproxy/admin.sock)`,
    });
  });
  return out;
}
