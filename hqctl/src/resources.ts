/**
 * The resources hqctl knows, the names a user may call them by (kubectl's plural, singular,
 * kind and short names, plus hqctl's own short aliases), and how it prints references to them.
 */
import {
  ClusterRoleBindingResource,
  ClusterRoleResource,
  RoleBindingResource,
  RoleResource,
  type ClusterRole,
  type ClusterRoleBinding,
  type Role,
  type RoleBinding,
  ConfigRevisionResource,
  EventResource,
  GROUP,
  HAProxyConfigResource,
  HAProxyInstanceResource,
  LeaseResource,
  VERSION,
  type ConfigRevision,
  type HAProxyConfig,
  type HAProxyInstance,
  type HQEvent,
  type Lease,
  type ResourceDescriptor,
} from '@haproxyhq/schemas';
import { CliError } from './errors.ts';

export type Kind = 'HAProxyInstance' | 'HAProxyConfig' | 'ConfigRevision' | 'Event' | 'Lease' | 'Role' | 'ClusterRole' | 'RoleBinding' | 'ClusterRoleBinding';

/** The object type of each kind, as validated by the client. */
export interface KindTypes {
  HAProxyInstance: HAProxyInstance;
  HAProxyConfig: HAProxyConfig;
  ConfigRevision: ConfigRevision;
  Event: HQEvent;
  Lease: Lease;
  Role: Role;
  ClusterRole: ClusterRole;
  RoleBinding: RoleBinding;
  ClusterRoleBinding: ClusterRoleBinding;
}

export type AnyObject = KindTypes[Kind];

export interface Resource<K extends Kind = Kind> {
  kind: K;
  plural: string;
  singular: string;
  descriptor: ResourceDescriptor;
  /** Every name this resource answers to on the command line. */
  aliases: readonly string[];
  /** Whether `apply -f` may create it (ConfigRevisions are server-created; Events and Leases belong to agents). */
  applicable: boolean;
}

function resource<K extends Kind>(kind: K, descriptor: ResourceDescriptor, extra: string[], applicable: boolean): Resource<K> {
  return {
    kind,
    plural: descriptor.plural,
    singular: descriptor.singular,
    descriptor,
    aliases: [descriptor.plural, descriptor.singular, kind.toLowerCase(), ...descriptor.shortNames, ...extra],
    applicable,
  };
}

export const INSTANCES = resource('HAProxyInstance', HAProxyInstanceResource, ['hi', 'instance', 'instances'], true);
export const CONFIGS = resource('HAProxyConfig', HAProxyConfigResource, ['hc', 'config', 'configs'], true);
export const REVISIONS = resource('ConfigRevision', ConfigRevisionResource, ['rev', 'revs', 'revision', 'revisions'], false);
export const EVENTS = resource('Event', EventResource, ['ev'], false);
export const LEASES = resource('Lease', LeaseResource, [], false);

export const ROLES = resource('Role', RoleResource, [], true);
export const CLUSTER_ROLES = resource('ClusterRole', ClusterRoleResource, [], true);
export const ROLE_BINDINGS = resource('RoleBinding', RoleBindingResource, [], true);
export const CLUSTER_ROLE_BINDINGS = resource('ClusterRoleBinding', ClusterRoleBindingResource, [], true);

export const ALL_RESOURCES: readonly Resource[] = [INSTANCES, CONFIGS, REVISIONS, EVENTS, LEASES, ROLES, CLUSTER_ROLES, ROLE_BINDINGS, CLUSTER_ROLE_BINDINGS];
export const APPLICABLE_KINDS = ALL_RESOURCES.filter((r) => r.applicable).map((r) => r.kind);

/** Resolve a resource name as typed (`hi`, `haproxyconfigs`, `haproxyconfig.haproxyhq.io`). */
export function findResource(name: string): Resource | undefined {
  let n = name.toLowerCase();
  // kubectl accepts RESOURCE.GROUP and RESOURCE.VERSION.GROUP.
  for (const suffix of [`.${VERSION}.${GROUP}`, `.${GROUP}`]) {
    if (n.endsWith(suffix)) n = n.slice(0, -suffix.length);
  }
  return ALL_RESOURCES.find((r) => r.aliases.includes(n));
}

/** Like findResource, but an unknown name is kubectl's error. */
export function resolveResource(name: string): Resource {
  const r = findResource(name);
  if (!r) throw new CliError(`the server doesn't have a resource type "${name}"`);
  return r;
}

/**
 * A TYPE argument: a resource, or a category of them as kubectl takes one (`all`: instances and
 * configs; `haproxyhq`: every resource of the group but RBAC's; `haproxyhq-rbac`).
 */
export function resolveTypes(name: string): Resource[] {
  const r = findResource(name);
  if (r) return [r];
  const inCategory = ALL_RESOURCES.filter((x) => x.descriptor.categories.includes(name.toLowerCase()));
  return inCategory.length > 0 ? inCategory : [resolveResource(name)];
}

export function resourceForKind(kind: string): Resource | undefined {
  return ALL_RESOURCES.find((r) => r.kind === kind);
}

/** `haproxyconfig.haproxyhq.io/web`: how kubectl names an object in `-o name` and apply output. */
export function refName(r: Resource, name: string): string {
  return `${r.singular}.${GROUP}/${name}`;
}

/** `haproxyconfigs.haproxyhq.io "web"`: how the server names an object in messages. */
export function quotedName(r: Resource, name: string): string {
  return `${r.plural}.${GROUP} "${name}"`;
}

/** `haproxyconfig.haproxyhq.io "web"`: kubectl's form in `delete` output. */
export function singularQuoted(r: Resource, name: string): string {
  return `${r.singular}.${GROUP} "${name}"`;
}

export interface ObjectRef {
  resource: Resource;
  name: string;
}

/**
 * kubectl's positional forms: `TYPE`, `TYPE NAME...`, `TYPE/NAME...`, `TYPE1,TYPE2`.
 * Returns the types (for lists) and the named objects.
 */
export function parseResourceArgs(args: string[]): { types: Resource[]; refs: ObjectRef[] } {
  if (args.length === 0) return { types: [], refs: [] };
  if (args.some((a) => a.includes('/'))) {
    const refs = args.map((a) => {
      const slash = a.indexOf('/');
      if (slash <= 0 || slash === a.length - 1) {
        throw new CliError(`there is no need to specify a resource type as a separate argument when passing arguments in resource/name form (e.g. 'hqctl get haproxyconfig/web' instead of 'hqctl get haproxyconfig haproxyconfig/web')`);
      }
      return { resource: resolveResource(a.slice(0, slash)), name: a.slice(slash + 1) };
    });
    return { types: [], refs };
  }
  const types = [...new Set(args[0]!.split(',').filter((t) => t !== '').flatMap(resolveTypes))];
  const names = args.slice(1);
  if (names.length === 0) return { types, refs: [] };
  if (types.length !== 1) throw new CliError('a name may only be given with a single resource type');
  return { types: [], refs: names.map((name) => ({ resource: types[0]!, name })) };
}
