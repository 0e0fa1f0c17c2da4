import { Type, type Static } from '@sinclair/typebox';
import { HAProxyConfigSpecSchema } from './config.ts';
import { ObjectMetaSchema } from './meta.ts';

export { CONFIG_LABEL } from './labels.ts';

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

/**
 * What one instance runs from one revision: the config and files after templates are filled
 * (GET .../haproxyinstances/NAME/rendered[?revision=R]). `contentHash` is of these rendered bytes,
 * the hash the agent reports as status.appliedHash once it runs them.
 */
export const RenderedConfigSchema = Type.Object(
  {
    apiVersion: Type.String({ description: 'haproxyhq.io/v1alpha1' }),
    kind: Type.Literal('RenderedConfig'),
    metadata: Type.Object(
      { name: Type.String({ description: 'The instance.' }), namespace: Type.String() },
      { additionalProperties: false },
    ),
    revision: Type.String({ description: 'The ConfigRevision rendered.' }),
    template: Type.Boolean({ description: 'Whether the revision is a template (else the text is as stored).' }),
    contentHash: Type.String({ description: 'sha256 of the rendered config and files, as "sha256:<hex>".' }),
    config: Type.String({ description: 'haproxy.cfg as this instance gets it.' }),
    files: Type.Array(Type.Object({ path: Type.String(), content: Type.String() }, { additionalProperties: false })),
  },
  { additionalProperties: false, description: 'A ConfigRevision rendered for one instance.' },
);
export type RenderedConfig = Static<typeof RenderedConfigSchema>;
