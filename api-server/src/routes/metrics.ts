/**
 * GET /apis/haproxyhq.io/v1alpha1/namespaces/NS/haproxyinstances/NAME/metrics[?sinceSeconds=N]:
 * the instance's recent traffic from the server's in-memory history (metrics/history.ts), for the
 * console's charts. Authenticated by the app's onRequest hook like every API path, authorized as
 * `get haproxyinstances/metrics`.
 */
import type { FastifyInstance } from 'fastify';
import { API_VERSION, GROUP, VERSION, type InstanceMetrics } from '@haproxyhq/schemas';
import type { Authorizer } from '../auth.ts';
import { ApiError, badRequest } from '../errors.ts';
import type { MetricsHistory } from '../metrics/history.ts';
import type { ResourceRegistry } from '../registry/registry.ts';
import { authorizeRequest, checkNamespace } from './resources.ts';

export interface MetricsRoutesOptions {
  /** The instances' registry: an instance that does not exist is a 404 whatever the history holds. */
  instances: ResourceRegistry;
  /** Undefined when the history is off (--metrics-history-minutes 0). */
  history: MetricsHistory | undefined;
}

/** Registers the metrics route. */
export async function metricsRoutes(app: FastifyInstance, opts: MetricsRoutesOptions): Promise<void> {
  const authorizer = app.getDecorator<Authorizer>('authorizer');
  app.get<{ Params: { namespace: string; name: string }; Querystring: { sinceSeconds?: string } }>(
    `/apis/${GROUP}/${VERSION}/namespaces/:namespace/haproxyinstances/:name/metrics`,
    async (req): Promise<InstanceMetrics> => {
      const { namespace, name } = req.params;
      checkNamespace(namespace);
      await authorizeRequest(authorizer, req, { verb: 'get', resource: 'haproxyinstances', subresource: 'metrics', namespace, name });
      const history = opts.history;
      if (!history) {
        throw new ApiError(
          404,
          'NotFound',
          'this server keeps no metrics history (--metrics-history-minutes is 0): start it with --metrics-history-minutes N (HQ_METRICS_HISTORY_MINUTES) to keep N minutes of samples',
        );
      }
      const windowSeconds = Math.round(history.windowMs / 1000);
      let sinceSeconds = windowSeconds;
      const q = req.query.sinceSeconds;
      if (q !== undefined) {
        if (!/^\d{1,9}$/.test(q) || Number(q) < 1) {
          throw badRequest(`invalid sinceSeconds ${JSON.stringify(q)}: must be a whole number of seconds, at least 1 (at most ${windowSeconds} are kept)`);
        }
        // Like kube-apiserver's limits, a bigger ask is clamped, not refused: the window is all there is.
        sinceSeconds = Math.min(Number(q), windowSeconds);
      }
      // 404 NotFound naming the instance, from the store: the history may lag a delete by an event.
      await opts.instances.get(namespace, name);
      const samples = history.query(namespace, name, sinceSeconds * 1000);
      return {
        apiVersion: API_VERSION,
        kind: 'InstanceMetrics',
        metadata: { name, namespace },
        windowSeconds: sinceSeconds,
        intervalSeconds: Math.round(history.intervalMs / 1000),
        ...samples,
      };
    },
  );
}
