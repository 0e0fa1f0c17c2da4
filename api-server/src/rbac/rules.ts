/**
 * RBAC's pure half: whether a rule grants a request, and the built-in roles. Kubernetes'
 * semantics: a rule names verbs and resources (a subresource only as "resource/sub", or
 * "resource/*"; "*" is everything), optionally object names; rules only add permissions.
 */
import type { ClusterRole, PolicyRule } from '@haproxyhq/schemas';
import type { RequestAttributes } from '../auth.ts';

export function ruleAllows(rule: PolicyRule, a: RequestAttributes): boolean {
  if (!rule.verbs.includes('*') && !rule.verbs.includes(a.verb)) return false;
  const target = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
  const resourceOk = rule.resources.some((r) => r === '*' || r === target || (a.subresource !== undefined && r === `${a.resource}/*`));
  if (!resourceOk) return false;
  if (rule.resourceNames && rule.resourceNames.length > 0) {
    // A create, or a list/watch not pinned to one name, names no object: resourceNames cannot allow it.
    return a.name !== undefined && rule.resourceNames.includes(a.name);
  }
  return true;
}

export const rulesAllow = (rules: readonly PolicyRule[], a: RequestAttributes) => rules.some((r) => ruleAllows(r, a));

/** Label on the roles the server creates and keeps up to date at every start. */
export const BOOTSTRAP_LABEL = 'haproxyhq.io/bootstrapping';

/** What people read: every resource of the API but the audit log and RBAC itself. */
const READABLE = [
  'haproxyinstances',
  'haproxyinstances/status',
  'haproxyinstances/rendered',
  'haproxyinstances/metrics',
  'haproxyconfigs',
  'haproxyconfigs/status',
  'configrevisions',
  'events',
  'leases',
];
const READ = ['get', 'list', 'watch'] as const;

const builtin = (name: string, description: string, rules: PolicyRule[]): ClusterRole => ({
  apiVersion: 'haproxyhq.io/v1alpha1',
  kind: 'ClusterRole',
  metadata: { name, labels: { [BOOTSTRAP_LABEL]: 'rbac-defaults' }, annotations: { 'haproxyhq.io/description': description } },
  rules,
});

/**
 * admin: everything, including roles, bindings, tokens and the audit log.
 * editor: reads everything people read; writes configs and instances (spec, server states,
 * pins); never status (the agents'), roles, tokens or the audit log.
 * viewer: reads what people read; writes nothing.
 */
export const BUILTIN_CLUSTER_ROLES: readonly ClusterRole[] = [
  builtin('admin', 'Everything, in every namespace (bound by a ClusterRoleBinding) or in one (by a RoleBinding).', [{ verbs: ['*'], resources: ['*'] }]),
  builtin('editor', 'Reads everything but the audit log and RBAC; writes HAProxyConfigs and HAProxyInstances.', [
    { verbs: [...READ], resources: READABLE },
    { verbs: ['create', 'update', 'patch', 'delete'], resources: ['haproxyconfigs', 'haproxyinstances'] },
  ]),
  builtin('viewer', 'Reads everything but the audit log and RBAC.', [{ verbs: [...READ], resources: READABLE }]),
];

/** The group every user in it may do anything (the first admin token's), as Kubernetes' system:masters. */
export const SUPERUSER_GROUP = 'system:masters';
/** The group of every enrolled agent. */
export const AGENTS_GROUP = 'system:agents';
