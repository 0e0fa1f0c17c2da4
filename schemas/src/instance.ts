import { Type, type Static } from '@sinclair/typebox';
import { ConditionSchema, ObjectMetaSchema } from './meta.ts';

/** Annotation the rollout controller sets with spec.configRevision: when it did (its health deadline runs from here). */
export const REVISION_SET_AT_ANNOTATION = 'haproxyhq.io/revision-set-at';

/**
 * The characters HAProxy allows in proxy and server names. Enforced because these names go into
 * runtime API commands, where ';' separates commands and spaces separate arguments.
 */
export const HAPROXY_NAME = '^[A-Za-z0-9_.:-]+$';

export const ServerStateSchema = Type.Object(
  {
    backend: Type.String({
      minLength: 1,
      maxLength: 255,
      pattern: HAPROXY_NAME,
      description: "Backend (proxy) name as in haproxy.cfg: letters, digits, '-', '_', '.' and ':'.",
    }),
    server: Type.String({
      minLength: 1,
      maxLength: 255,
      pattern: HAPROXY_NAME,
      description: "Server name within the backend: letters, digits, '-', '_', '.' and ':'.",
    }),
    state: Type.Optional(
      Type.Union([Type.Literal('ready'), Type.Literal('drain'), Type.Literal('maint')], {
        description: 'Administrative state applied through the runtime API: ready, drain or maint.',
      }),
    ),
    weight: Type.Optional(
      Type.Integer({ minimum: 0, maximum: 256, description: 'Weight applied through the runtime API (0-256).' }),
    ),
  },
  { additionalProperties: false, description: 'Declared runtime state of one server; survives reloads.' },
);

export const HAProxyInstanceSpecSchema = Type.Object(
  {
    configRevision: Type.Optional(
      Type.String({
        maxLength: 253,
        description:
          'Name of the ConfigRevision this instance should run. Set by the rollout controller, or pinned by a person.',
      }),
    ),
    paused: Type.Optional(
      Type.Boolean({ description: 'When true, rollouts skip this instance and it keeps its current revision.' }),
    ),
    values: Type.Optional(
      Type.Record(Type.String({ maxLength: 253 }), Type.String({ maxLength: 4096 }), {
        maxProperties: 64,
        description: 'Per-instance values for templated configs: {{ values.KEY }}.',
      }),
    ),
    servers: Type.Optional(
      Type.Array(ServerStateSchema, {
        maxItems: 10000,
        description: 'Server states and weights to hold through the runtime API, without a reload.',
      }),
    ),
  },
  { additionalProperties: false, description: 'What this HAProxy host should run.' },
);

const StatRowSchema = Type.Object(
  {
    name: Type.String({ description: 'Proxy or server name.' }),
    backend: Type.Optional(Type.String({ description: 'For servers: the backend they belong to.' })),
    status: Type.Optional(Type.String({ description: 'HAProxy status: UP, DOWN, OPEN, MAINT, DRAIN, ...' })),
    currentSessions: Type.Optional(Type.Integer({ description: 'Current sessions (scur).' })),
    maxSessions: Type.Optional(Type.Integer({ description: 'Highest sessions seen (smax).' })),
    totalSessions: Type.Optional(Type.Integer({ description: 'Total sessions (stot).' })),
    sessionRate: Type.Optional(Type.Integer({ description: 'Sessions per second over the last second (rate).' })),
    requestRate: Type.Optional(Type.Integer({ description: 'HTTP requests per second (req_rate).' })),
    weight: Type.Optional(Type.Integer({ description: 'Effective weight.' })),
    checkStatus: Type.Optional(Type.String({ description: 'Last health check result.' })),
  },
  { additionalProperties: false },
);

export const HAProxyInstanceStatusSchema = Type.Object(
  {
    observedGeneration: Type.Optional(Type.Integer({ description: 'The generation the agent last acted on.' })),
    conditions: Type.Optional(
      Type.Array(ConditionSchema, {
        maxItems: 32,
        description: 'AgentConnected, HAProxyRunning, ConfigApplied, Drifted and Ready.',
      }),
    ),
    appliedRevision: Type.Optional(Type.String({ description: 'ConfigRevision the running HAProxy was loaded from.' })),
    appliedHash: Type.Optional(Type.String({ description: 'Content hash of the applied files (sha256:...).' })),
    lastApplyError: Type.Optional(
      Type.Object(
        {
          revision: Type.Optional(Type.String({ description: 'Revision that failed.' })),
          message: Type.String({ description: "HAProxy's own error text." }),
          file: Type.Optional(Type.String({ description: 'File the error is in.' })),
          line: Type.Optional(Type.Integer({ description: 'Line the error is on.' })),
          time: Type.Optional(Type.String({ format: 'date-time', description: 'When the apply failed.' })),
        },
        { additionalProperties: false, description: 'The last failed apply.' },
      ),
    ),
    heartbeatTime: Type.Optional(Type.String({ format: 'date-time', description: 'Last time the agent reported.' })),
    agent: Type.Optional(
      Type.Object(
        {
          version: Type.Optional(Type.String({ description: 'Agent version.' })),
          hostname: Type.Optional(Type.String({ description: 'Host the agent runs on.' })),
        },
        { additionalProperties: false },
      ),
    ),
    haproxy: Type.Optional(
      Type.Object(
        {
          version: Type.Optional(Type.String({ description: 'HAProxy version.' })),
          pid: Type.Optional(Type.Integer({ description: 'Master process PID.' })),
          workerPid: Type.Optional(Type.Integer({ description: 'Current worker PID.' })),
          uptimeSeconds: Type.Optional(Type.Integer({ description: 'Seconds since the master started.' })),
          reloads: Type.Optional(Type.Integer({ description: 'Reloads since the master started.' })),
          failedReloads: Type.Optional(Type.Integer({ description: 'Failed reloads since the master started.' })),
          currentConnections: Type.Optional(Type.Integer({ description: 'CurrConns from show info.' })),
          sessionRate: Type.Optional(Type.Integer({ description: 'SessRate from show info.' })),
        },
        { additionalProperties: false, description: 'Summary of show info and show proc.' },
      ),
    ),
    stats: Type.Optional(
      Type.Object(
        {
          frontends: Type.Optional(Type.Array(StatRowSchema, { maxItems: 10000 })),
          backends: Type.Optional(Type.Array(StatRowSchema, { maxItems: 10000 })),
          servers: Type.Optional(Type.Array(StatRowSchema, { maxItems: 100000 })),
        },
        { additionalProperties: false, description: 'Summary of show stat.' },
      ),
    ),
  },
  { additionalProperties: false, description: 'Written only by the agent, through the /status subresource.' },
);

export const HAProxyInstanceSchema = Type.Object(
  {
    apiVersion: Type.Optional(Type.String({ description: 'haproxyhq.io/v1alpha1' })),
    kind: Type.Optional(Type.String({ description: 'HAProxyInstance' })),
    metadata: ObjectMetaSchema,
    spec: Type.Optional(HAProxyInstanceSpecSchema),
    status: Type.Optional(HAProxyInstanceStatusSchema),
  },
  { additionalProperties: false, description: 'One HAProxy host managed by an agent.' },
);
export type HAProxyInstance = Static<typeof HAProxyInstanceSchema>;
export type HAProxyInstanceSpec = Static<typeof HAProxyInstanceSpecSchema>;
export type HAProxyInstanceStatus = Static<typeof HAProxyInstanceStatusSchema>;
