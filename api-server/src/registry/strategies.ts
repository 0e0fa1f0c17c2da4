/** Per-resource behaviour on top of the generic registry. */
import { createHash } from 'node:crypto';
import {
  API_VERSION,
  CONFIG_LABEL,
  checkTemplate,
  findTcpRuntimeSockets,
  contentHashInput,
  revisionName,
  type HAProxyConfigSpec,
  type HAProxyInstanceSpec,
} from '@haproxyhq/schemas';
import { SYSTEM_ACTORS } from '../audit/log.ts';
import { CredentialStore } from '../credentials/store.ts';
import type { Cause } from '../errors.ts';
import type { ApiObject, ResourceStrategy, WriteContext } from './registry.ts';

/** sha256 of what the agent will write, as "sha256:<hex>". */
export const contentHash = (spec: HAProxyConfigSpec) =>
  `sha256:${createHash('sha256').update(contentHashInput(spec)).digest('hex')}`;

export const instanceStrategy: ResourceStrategy = {
  /**
   * A deleted instance takes its agent's credentials with it: a new instance of the same name is
   * a new host, which enrolls again (its old credential must not come back to life).
   */
  async afterDelete(obj, ctx) {
    await new CredentialStore(ctx.storage).revokeInstance(obj.metadata.namespace!, obj.metadata.name!);
  },

  validate(obj) {
    const causes: Cause[] = [];
    const servers = (obj.spec as HAProxyInstanceSpec | undefined)?.servers ?? [];
    const seen = new Set<string>();
    servers.forEach((s, i) => {
      const id = `${s.backend}/${s.server}`;
      if (seen.has(id)) causes.push({ reason: 'FieldValueDuplicate', field: `spec.servers[${i}]`, message: `Duplicate value: ${JSON.stringify(id)}` });
      seen.add(id);
    });
    return causes;
  },
};

export const configStrategy: ResourceStrategy = {
  validate(obj) {
    const causes: Cause[] = [];
    const spec = obj.spec as HAProxyConfigSpec | undefined;
    if ((obj.metadata.name ?? '').length > 63) {
      // Its ConfigRevisions carry the name as a label value, which Kubernetes caps at 63.
      causes.push({ reason: 'FieldValueTooLong', field: 'metadata.name', message: 'must have at most 63 characters (it labels the ConfigRevisions)' });
    }
    const paths = new Set<string>();
    (spec?.files ?? []).forEach((f, i) => {
      if (paths.has(f.path)) causes.push({ reason: 'FieldValueDuplicate', field: `spec.files[${i}].path`, message: `Duplicate value: ${JSON.stringify(f.path)}` });
      paths.add(f.path);
    });
    if (spec?.config !== undefined && spec.config.includes('\0')) {
      causes.push({ reason: 'FieldValueInvalid', field: 'spec.config', message: 'must not contain NUL bytes' });
    }
    // Templates are checked at apply time, so a typo is a 422 here and not a failed rollout later.
    if (spec?.config !== undefined) {
      for (const { field, error } of checkTemplate(spec)) causes.push({ reason: 'FieldValueInvalid', field, message: error.message });
      for (const s of findTcpRuntimeSockets(spec.config)) causes.push({ reason: 'FieldValueForbidden', field: 'spec.config', message: s.message });
    }
    return causes;
  },

  /** Record an immutable ConfigRevision for every new generation, in the same transaction. */
  async extraWrites(obj, old, ctx, dryRun) {
    const generation = obj.metadata.generation ?? 1;
    if (old && old.metadata.generation === generation) return [];
    const revisions = ctx.lookup('configrevisions');
    const namespace = obj.metadata.namespace!;
    const configName = obj.metadata.name!;
    const spec = obj.spec as HAProxyConfigSpec;
    const revision = revisions.prepareCreate(namespace, {
      apiVersion: API_VERSION,
      kind: 'ConfigRevision',
      metadata: {
        name: revisionName(configName, generation),
        labels: { [CONFIG_LABEL]: configName },
        ownerReferences: [
          { apiVersion: API_VERSION, kind: 'HAProxyConfig', name: configName, uid: obj.metadata.uid!, controller: true },
        ],
      },
      spec: { configName, revision: generation, contentHash: contentHash(spec), config: spec },
    });
    const key = revisions.key(namespace, revision.metadata.name!);
    // A revision left by an earlier config of the same name (deleted, its history not yet
    // collected) is collected now, not an error: it belongs to an object that no longer exists.
    // In a write of its own, before this one: etcd refuses two writes to one key in a txn.
    const stale = await revisions.find(namespace, revision.metadata.name!);
    if (stale) {
      const owner = stale.metadata.ownerReferences?.[0]?.uid;
      if (owner === obj.metadata.uid) return [];
      if (!dryRun) {
        try {
          await revisions.delete(namespace, stale.metadata.name!, { preconditions: { uid: stale.metadata.uid }, actor: SYSTEM_ACTORS.garbageCollector });
        } catch {
          // Collected meanwhile, or replaced by a concurrent write: the create below says which.
        }
      }
    }
    return [{ type: 'create', key, value: revisions.encode(revision) }];
  },

  /** Garbage-collect the deleted config's revisions (ownerReferences, as Kubernetes' GC would). */
  async afterDelete(obj, ctx) {
    await collectOwned(obj, ctx);
  },
};

async function collectOwned(owner: ApiObject, ctx: WriteContext): Promise<void> {
  const revisions = ctx.lookup('configrevisions');
  const namespace = owner.metadata.namespace!;
  const list = await revisions.list(namespace, { labelSelector: `${CONFIG_LABEL}=${owner.metadata.name}` });
  for (const rev of list.items) {
    if (!rev.metadata.ownerReferences?.some((r) => r.uid === owner.metadata.uid)) continue;
    try {
      await revisions.delete(namespace, rev.metadata.name!, { preconditions: { uid: rev.metadata.uid }, actor: SYSTEM_ACTORS.garbageCollector });
    } catch {
      // Already gone, or replaced: nothing to collect.
    }
  }
}

export const revisionStrategy: ResourceStrategy = {};
/** What an Event holds beyond metadata, as the field labels read it. */
interface EventFields {
  involvedObject?: { kind?: string; name?: string; namespace?: string };
  reason?: string;
  type?: string;
}
const eventField = (read: (e: EventFields) => string | undefined) => (o: object) => read(o as EventFields);

/** Events are found by what they are about, as kube-apiserver's event field labels allow (`kubectl describe` uses them). */
export const eventStrategy: ResourceStrategy = {
  fieldLabels: {
    'involvedObject.kind': eventField((e) => e.involvedObject?.kind),
    'involvedObject.name': eventField((e) => e.involvedObject?.name),
    'involvedObject.namespace': eventField((e) => e.involvedObject?.namespace),
    reason: eventField((e) => e.reason),
    type: eventField((e) => e.type),
  },
};

export const STRATEGIES: Record<string, ResourceStrategy> = {
  haproxyinstances: instanceStrategy,
  haproxyconfigs: configStrategy,
  configrevisions: revisionStrategy,
  events: eventStrategy,
  leases: {},
};
