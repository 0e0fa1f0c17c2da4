/**
 * InstanceMetrics: the recent history of one instance's traffic, as the api-server keeps it in
 * memory from the statuses its agent reports (GET .../haproxyinstances/NAME/metrics). Not a
 * stored resource: it has no resourceVersion and cannot be written or watched.
 *
 * Columns are parallel arrays (t[i] goes with currentConnections[i], ...), the shape chart
 * libraries such as uPlot take without copying. A value the agent did not report is null (a gap
 * in a chart), never 0.
 */
import { Type, type Static } from '@sinclair/typebox';

const Times = Type.Array(Type.Number(), {
  description: 'Sample times, milliseconds since the Unix epoch, ascending (the agent-reported status.heartbeatTime).',
});

/** A column of integer samples, null where the agent did not report the value. */
const Column = (description: string) => Type.Array(Type.Union([Type.Integer(), Type.Null()]), { description });

export const InstanceSeriesSchema = Type.Object(
  {
    t: Times,
    currentConnections: Column('Current connections (CurrConns of show info, status.haproxy.currentConnections).'),
    sessionRate: Column('Sessions per second (SessRate of show info, status.haproxy.sessionRate).'),
    requestRate: Column(
      "HTTP requests per second: the sum of the frontends' req_rate (status.stats.frontends[].requestRate); null when no frontend reports one (TCP-only configs).",
    ),
  },
  { additionalProperties: false, description: 'Instance-wide samples.' },
);
export type InstanceSeries = Static<typeof InstanceSeriesSchema>;

export const BackendSeriesSchema = Type.Object(
  {
    name: Type.String({ description: 'Backend (proxy) name as in haproxy.cfg.' }),
    t: Type.Array(Type.Number(), {
      description: 'Sample times (milliseconds since the Unix epoch, ascending) at which the agent reported this backend.',
    }),
    currentSessions: Column('Current sessions of the backend (scur).'),
    sessionRate: Column('Sessions per second of the backend (rate).'),
    requestRate: Column(
      "HTTP requests per second of the backend (req_rate). HAProxy's show stat reports req_rate for frontends only, so with a real HAProxy this is null.",
    ),
  },
  { additionalProperties: false, description: 'Samples of one backend, from status.stats.backends.' },
);
export type BackendSeries = Static<typeof BackendSeriesSchema>;

export const InstanceMetricsSchema = Type.Object(
  {
    apiVersion: Type.String({ description: 'haproxyhq.io/v1alpha1' }),
    kind: Type.Literal('InstanceMetrics', { description: 'InstanceMetrics' }),
    metadata: Type.Object(
      {
        name: Type.String({ description: 'The HAProxyInstance.' }),
        namespace: Type.String({ description: 'Its namespace.' }),
      },
      { additionalProperties: false, description: 'Which instance these samples are of.' },
    ),
    windowSeconds: Type.Integer({
      description: 'How far back the samples reach: the sinceSeconds asked for, at most the server\'s --metrics-history-minutes.',
    }),
    intervalSeconds: Type.Integer({
      description: 'The server keeps at most one sample per series in each interval of this many seconds (the latest one).',
    }),
    instance: InstanceSeriesSchema,
    backends: Type.Array(BackendSeriesSchema, {
      description: 'One series per backend seen in the window, in the order the agent reports them.',
    }),
    truncatedBackends: Type.Optional(
      Type.Integer({
        description:
          'How many backends of the latest sample have no series: the server keeps at most 64 per instance, and the rest are neither kept nor summed anywhere.',
      }),
    ),
  },
  { additionalProperties: false, description: "Recent traffic of one instance, from its agent's status reports." },
);
export type InstanceMetrics = Static<typeof InstanceMetricsSchema>;
