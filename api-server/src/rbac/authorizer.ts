/**
 * The RBAC authorizer: Roles, ClusterRoles and their bindings, kept in memory from the store's
 * watch (every replica has them), evaluated per request; plus the rules of enrolled agents, which
 * are bound to their own HAProxyInstance (as Kubernetes' Node authorizer binds a kubelet to its
 * node): an agent reads its instance and the revisions it runs, writes its own status, Lease and
 * Events, and anything else only where a binding grants it.
 */
import { SYSTEM_ACTORS } from '../audit/log.ts';
import type { ClusterRole, ClusterRoleBinding, HAProxyInstance, PolicyRule, Role, RoleBinding } from '@haproxyhq/schemas';
import type { Authorizer, RequestAttributes, UserInfo } from '../auth.ts';
import { objectKey, startInformer, type Informer } from '../controllers/informer.ts';
import { KeyExistsError } from '../storage/types.ts';
import type { ApiObject, ResourceRegistry } from '../registry/registry.ts';
import { BOOTSTRAP_LABEL, BUILTIN_CLUSTER_ROLES, SUPERUSER_GROUP, rulesAllow } from './rules.ts';

type Decision = { allowed: boolean; reason?: string };

interface Grant {
  /** undefined: every namespace (a ClusterRoleBinding). */
  namespace: string | undefined;
  roleKind: 'Role' | 'ClusterRole';
  roleName: string;
  binding: string;
}

export class RbacAuthorizer implements Authorizer {
  private readonly registries: Map<string, ResourceRegistry>;
  private readonly onError: (err: unknown) => void;
  private informers: Informer[] = [];
  private roles?: Informer;
  private clusterRoles?: Informer;
  private roleBindings?: Informer;
  private clusterRoleBindings?: Informer;
  /** Grants by subject ("User:alice", "Group:ops"); rebuilt when a binding changes. */
  private grants: Map<string, Grant[]> | undefined;

  constructor(registries: Map<string, ResourceRegistry>, onError: (err: unknown) => void = () => {}) {
    this.registries = registries;
    this.onError = onError;
  }

  /** Start the caches; resolves once each has its first list. */
  async start(): Promise<void> {
    const inform = (plural: string, dirtiesGrants: boolean) => {
      const inf = startInformer(this.registry(plural), () => {
        if (dirtiesGrants) this.grants = undefined;
      }, this.onError);
      this.informers.push(inf);
      return inf;
    };
    this.roles = inform('roles', false);
    this.clusterRoles = inform('clusterroles', false);
    this.roleBindings = inform('rolebindings', true);
    this.clusterRoleBindings = inform('clusterrolebindings', true);
    await Promise.all(this.informers.map((i) => i.synced));
  }

  stop(): void {
    for (const i of this.informers) i.stop();
    this.informers = [];
  }

  async authorize(user: UserInfo, a: RequestAttributes): Promise<Decision> {
    if (user.groups.includes(SUPERUSER_GROUP)) return { allowed: true };
    if (user.agent) {
      const own = await this.agentAllows(user.agent, a);
      if (own) return { allowed: true };
    }
    if (this.bindingsAllow(user, a)) return { allowed: true };
    return {
      allowed: false,
      reason: user.agent
        ? `an agent's credential is bound to haproxyinstance "${user.agent.name}" in namespace "${user.agent.namespace}"`
        : 'no Role or ClusterRole bound to the user or its groups allows it',
    };
  }

  /** What an agent may do by being the agent of its instance. */
  private async agentAllows(own: { namespace: string; name: string }, a: RequestAttributes): Promise<boolean> {
    if (a.namespace !== own.namespace) return false;
    const objectName = (a.object as { metadata?: { name?: unknown } } | undefined)?.metadata?.name;
    const isOwn = a.verb === 'create' ? objectName === own.name : a.name === own.name;
    switch (a.resource) {
      case 'haproxyinstances':
        if (a.subresource === undefined) return isOwn && ['get', 'list', 'watch', 'create', 'update', 'patch'].includes(a.verb);
        if (a.subresource === 'status') return isOwn && ['get', 'update', 'patch'].includes(a.verb);
        // Rotating its own credential (revoking is an admin's).
        if (a.subresource === 'credentials') return a.name === own.name && a.verb === 'create';
        return isOwn && a.verb === 'get'; // rendered, metrics
      case 'leases':
        return isOwn && ['get', 'create', 'update', 'patch'].includes(a.verb);
      case 'events': {
        if (a.verb !== 'create') return false;
        const about = (a.object as { involvedObject?: { kind?: unknown; name?: unknown; namespace?: unknown } } | undefined)?.involvedObject;
        return about?.kind === 'HAProxyInstance' && about.name === own.name && (about.namespace === undefined || about.namespace === own.namespace);
      }
      case 'configrevisions': {
        if (a.verb !== 'get' || a.name === undefined) return false;
        // Only the revisions its instance runs or is told to run.
        const inst = (await this.registry('haproxyinstances').find(own.namespace, own.name)) as HAProxyInstance | undefined;
        return a.name === inst?.spec?.configRevision || a.name === inst?.status?.appliedRevision;
      }
      default:
        return false;
    }
  }

  private bindingsAllow(user: UserInfo, a: RequestAttributes): boolean {
    const grants = this.grantIndex();
    const subjects = [`User:${user.name}`, ...user.groups.map((g) => `Group:${g}`)];
    for (const s of subjects) {
      for (const g of grants.get(s) ?? []) {
        // A RoleBinding grants only in its namespace: never cluster-wide kinds or all-namespace lists.
        if (g.namespace !== undefined && g.namespace !== a.namespace) continue;
        const rules = this.rulesOf(g);
        if (rules && rulesAllow(rules, a)) return true;
      }
    }
    return false;
  }

  private rulesOf(g: Grant): readonly PolicyRule[] | undefined {
    if (g.roleKind === 'Role') return (this.roles?.items.get(`${g.namespace}/${g.roleName}`) as Role | undefined)?.rules;
    return (this.clusterRoles?.items.get(objectKey({ metadata: { name: g.roleName } } as ApiObject)) as ClusterRole | undefined)?.rules;
  }

  private grantIndex(): Map<string, Grant[]> {
    if (this.grants) return this.grants;
    const index = new Map<string, Grant[]>();
    const add = (subject: string, g: Grant) => {
      const list = index.get(subject);
      if (list) list.push(g);
      else index.set(subject, [g]);
    };
    for (const obj of this.roleBindings?.items.values() ?? []) {
      const b = obj as unknown as RoleBinding;
      for (const s of b.subjects) add(`${s.kind}:${s.name}`, { namespace: b.metadata.namespace!, roleKind: b.roleRef.kind, roleName: b.roleRef.name, binding: b.metadata.name! });
    }
    for (const obj of this.clusterRoleBindings?.items.values() ?? []) {
      const b = obj as unknown as ClusterRoleBinding;
      for (const s of b.subjects) add(`${s.kind}:${s.name}`, { namespace: undefined, roleKind: 'ClusterRole', roleName: b.roleRef.name, binding: b.metadata.name! });
    }
    this.grants = index;
    return index;
  }

  private registry(plural: string): ResourceRegistry {
    const r = this.registries.get(plural);
    if (!r) throw new Error(`no registry for ${plural}`);
    return r;
  }
}

/**
 * Create the built-in ClusterRoles (admin, editor, viewer) if missing, and bring them back to
 * their defaults if someone changed them, unless the role's bootstrapping label was removed
 * (then it is the operator's). Safe on every replica at every start.
 */
export async function ensureBuiltinRoles(registries: Map<string, ResourceRegistry>): Promise<void> {
  const r = registries.get('clusterroles');
  if (!r) throw new Error('no registry for clusterroles');
  for (const role of BUILTIN_CLUSTER_ROLES) {
    const name = role.metadata.name!;
    const existing = (await r.find('', name)) as ClusterRole | undefined;
    if (!existing) {
      try {
        await r.create('', role as unknown as ApiObject, { actor: SYSTEM_ACTORS.rbacBootstrap });
      } catch (err) {
        if (!(err instanceof KeyExistsError) && (err as { code?: number }).code !== 409) throw err;
      }
      continue;
    }
    if (existing.metadata.labels?.[BOOTSTRAP_LABEL] !== 'rbac-defaults') continue;
    if (JSON.stringify(existing.rules) === JSON.stringify(role.rules)) continue;
    await r.update('', name, { ...existing, rules: role.rules } as unknown as ApiObject, undefined, { actor: SYSTEM_ACTORS.rbacBootstrap });
  }
}
