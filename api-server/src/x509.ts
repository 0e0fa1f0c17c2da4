/**
 * Mutual TLS: a client certificate verified against the configured client CA authenticates its
 * holder, read as Kubernetes reads one (CN: the user name; each O: a group). A certificate for
 * CN=system:agent:NAMESPACE:NAME in the group system:agents is that instance's agent, confined to
 * it by the authorizer like an enrolled agent's token.
 */
import type { FastifyRequest } from 'fastify';
import type { TLSSocket } from 'node:tls';
import type { UserInfo } from './auth.ts';
import { AGENTS_GROUP } from './rbac/rules.ts';

const AGENT_CN = /^system:agent:([a-z0-9]([-a-z0-9]*[a-z0-9])?):([a-z0-9]([-a-z0-9.]*[a-z0-9])?)$/;

/** The user a verified client certificate names; undefined without one (or with an unverified one). */
export function userFromClientCertificate(req: FastifyRequest): UserInfo | undefined {
  const socket = req.raw.socket as Partial<TLSSocket>;
  if (typeof socket.getPeerCertificate !== 'function' || socket.authorized !== true) return undefined;
  const cert = socket.getPeerCertificate();
  const cn = cert?.subject?.CN;
  const name = Array.isArray(cn) ? cn[0] : cn;
  if (!name) return undefined;
  const o = cert.subject.O;
  const groups = o === undefined ? [] : Array.isArray(o) ? o : [o];
  const m = AGENT_CN.exec(name);
  if (m && groups.includes(AGENTS_GROUP)) return { name, groups, agent: { namespace: m[1]!, name: m[3]! } };
  return { name, groups };
}
