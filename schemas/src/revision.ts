import { Type, type Static } from '@sinclair/typebox';
import { HAProxyConfigSpecSchema } from './config.ts';
import { ObjectMetaSchema } from './meta.ts';

/** Label every ConfigRevision carries: the HAProxyConfig it snapshots. */
export const CONFIG_LABEL = 'haproxyhq.io/config';

export const ConfigRevisionSpecSchema = Type.Object(
  {
    configName: Type.String({ description: 'The HAProxyConfig this revision snapshots.' }),
    revision: Type.Integer({ minimum: 1, description: "The config's metadata.generation when recorded." }),
    contentHash: Type.String({ description: 'sha256 of the config text and files, as "sha256:<hex>".' }),
    config: HAProxyConfigSpecSchema,
  },
  { additionalProperties: false, description: 'Immutable snapshot of an HAProxyConfig spec.' },
);

export const ConfigRevisionSchema = Type.Object(
  {
    apiVersion: Type.Optional(Type.String({ description: 'haproxyhq.io/v1alpha1' })),
    kind: Type.Optional(Type.String({ description: 'ConfigRevision' })),
    metadata: ObjectMetaSchema,
    spec: ConfigRevisionSpecSchema,
  },
  {
    additionalProperties: false,
    description: 'An immutable snapshot of one HAProxyConfig generation, recorded by the server: history, diff, rollback.',
  },
);
export type ConfigRevision = Static<typeof ConfigRevisionSchema>;

/** Name of the ConfigRevision recording generation `revision` of config `configName`. */
export const revisionName = (configName: string, revision: number) => `${configName}-${revision}`;

/**
 * The bytes `contentHash` is the sha256 of: what the agent writes to disk (config text and every
 * file by path), in a canonical order. Server and agent hash the same input.
 */
export function contentHashInput(spec: { config: string; files?: { path: string; content: string }[] }): string {
  const files = [...(spec.files ?? [])].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return JSON.stringify([spec.config, files.map((f) => [f.path, f.content])]);
}
