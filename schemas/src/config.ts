import { Type, type Static } from '@sinclair/typebox';
import { ConditionSchema, LabelSelectorSchema, ObjectMetaSchema } from './meta.ts';

/** ConfigRevisions kept per config when spec.revisionHistoryLimit is unset (as Deployments keep 10). */
export const DEFAULT_REVISION_HISTORY_LIMIT = 10;

/** Largest haproxy.cfg text accepted (the whole object is capped by the server too). */
export const MAX_CONFIG_BYTES = 1024 * 1024;

export const ConfigFileSchema = Type.Object(
  {
    path: Type.String({
      minLength: 1,
      maxLength: 255,
      pattern: '^[A-Za-z0-9_-][A-Za-z0-9._-]*(/[A-Za-z0-9_-][A-Za-z0-9._-]*)*$',
      description:
        'Path relative to the directory of haproxy.cfg, e.g. maps/hosts.map. No segment may start with ".", so no ".." escapes.',
    }),
    content: Type.String({ maxLength: MAX_CONFIG_BYTES, description: 'File content.' }),
    kind: Type.Optional(
      Type.Union([Type.Literal('map'), Type.Literal('acl'), Type.Literal('errorfile'), Type.Literal('other')], {
        description: 'What the file is: map, acl, errorfile or other.',
      }),
    ),
  },
  { additionalProperties: false, description: 'An extra file placed beside haproxy.cfg.' },
);

export const RolloutStrategySchema = Type.Object(
  {
    type: Type.Union([Type.Literal('AllAtOnce'), Type.Literal('Rolling')], {
      description: 'AllAtOnce moves every instance together; Rolling goes canary first, then in waves.',
    }),
    canary: Type.Optional(Type.Integer({ minimum: 0, description: 'Rolling: instances updated first, alone.' })),
    maxUnavailable: Type.Optional(
      Type.Union([Type.Integer({ minimum: 1 }), Type.String({ pattern: '^[0-9]{1,3}%$' })], {
        description: 'Rolling: instances (or a percentage) updating at once after the canary.',
      }),
    ),
    healthDeadlineSeconds: Type.Optional(
      Type.Integer({ minimum: 1, description: 'Rolling: how long an instance may take to be ConfigApplied and Ready.' }),
    ),
  },
  { additionalProperties: false, description: 'How instances move to a new revision.' },
);

export const HAProxyConfigSpecSchema = Type.Object(
  {
    config: Type.String({
      minLength: 1,
      maxLength: MAX_CONFIG_BYTES,
      description: 'haproxy.cfg as the operator wrote it. Stored and applied byte for byte, never reformatted.',
    }),
    files: Type.Optional(
      Type.Array(ConfigFileSchema, { maxItems: 256, description: 'Maps, ACL lists and error pages.' }),
    ),
    instanceSelector: Type.Optional(LabelSelectorSchema),
    strategy: Type.Optional(RolloutStrategySchema),
    paused: Type.Optional(Type.Boolean({ description: 'When true, the rollout of new revisions is paused.' })),
    template: Type.Optional(
      Type.Boolean({
        description:
          'When true, {{ name }}, {{ namespace }}, {{ labels.KEY }} and {{ values.KEY }} (optionally | default "x") in config and files are filled per instance.',
      }),
    ),
    revisionHistoryLimit: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: 1000,
        description: 'Old ConfigRevisions to keep besides the latest and any an instance still runs (default 10).',
      }),
    ),
  },
  { additionalProperties: false, description: 'What to run, and where.' },
);

export const HAProxyConfigStatusSchema = Type.Object(
  {
    observedGeneration: Type.Optional(Type.Integer({ description: 'The generation the rollout controller acted on.' })),
    latestRevision: Type.Optional(Type.String({ description: 'Name of the newest ConfigRevision.' })),
    instances: Type.Optional(Type.Integer({ description: 'Instances the selector matches.' })),
    updated: Type.Optional(Type.Integer({ description: 'Instances told to run the latest revision.' })),
    ready: Type.Optional(Type.Integer({ description: 'Instances running the latest revision and Ready.' })),
    failed: Type.Optional(Type.Integer({ description: 'Instances that failed to apply the latest revision.' })),
    pausedInstances: Type.Optional(Type.Integer({ description: 'Matched instances skipped because their spec.paused is true.' })),
    conflicts: Type.Optional(
      Type.Array(
        Type.Object(
          {
            instance: Type.String({ description: 'Instance matched by more than one config.' }),
            configs: Type.Array(Type.String(), { maxItems: 64, description: 'Every config whose selector matches it.' }),
          },
          { additionalProperties: false },
        ),
        { maxItems: 100, description: 'Instances this config shares with another config; the controller leaves them alone.' },
      ),
    ),
    conditions: Type.Optional(
      Type.Array(ConditionSchema, { maxItems: 32, description: 'Progressing, Complete, Halted and Conflict.' }),
    ),
  },
  { additionalProperties: false, description: 'Rollout progress, written by the rollout controller.' },
);

export const HAProxyConfigSchema = Type.Object(
  {
    apiVersion: Type.Optional(Type.String({ description: 'haproxyhq.io/v1alpha1' })),
    kind: Type.Optional(Type.String({ description: 'HAProxyConfig' })),
    metadata: ObjectMetaSchema,
    spec: HAProxyConfigSpecSchema,
    status: Type.Optional(HAProxyConfigStatusSchema),
  },
  { additionalProperties: false, description: 'A HAProxy configuration and the instances that run it.' },
);
export type HAProxyConfig = Static<typeof HAProxyConfigSchema>;
export type HAProxyConfigSpec = Static<typeof HAProxyConfigSpecSchema>;
