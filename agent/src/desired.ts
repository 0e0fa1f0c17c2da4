/** From a ConfigRevision and this host's instance to the exact files to write. */
import { TemplateError, findTcpRuntimeSockets, renderConfig, type ConfigRevision, type HAProxyInstance } from '@haproxyhq/schemas';
import { contentHash } from './apply/pipeline.ts';
import type { ApplyResult, DesiredConfig } from './apply/types.ts';

/**
 * The files this instance runs. A templated revision is rendered with the instance's name,
 * labels and spec.values, and hashed after rendering (so the status shows what is on disk). The
 * stored hash is checked against the stored text first: a corrupted revision is never rendered.
 * A placeholder this instance cannot fill is a rejection, like a `haproxy -c` failure: nothing on
 * the host changes.
 */
export function desiredFor(rev: ConfigRevision, instance: HAProxyInstance): { desired: DesiredConfig } | { rejected: ApplyResult } {
  const name = rev.metadata.name!;
  const stored = { config: rev.spec.config.config, files: (rev.spec.config.files ?? []).map((f) => ({ path: f.path, content: f.content })) };
  const reject = (message: string, file?: string, line?: number): { rejected: ApplyResult } => ({
    rejected: { outcome: 'rejected', revision: name, hash: rev.spec.contentHash, error: { stage: 'render', message, file, line }, timings: { totalMs: 0 } },
  });
  // The server refuses these at apply time; a rendered value (or a store edited behind its back)
  // could still produce one, and this host is the last place to stop it.
  const exposed = (config: string) => {
    const s = findTcpRuntimeSockets(config)[0];
    return s ? reject(s.message, 'haproxy.cfg', s.line) : undefined;
  };
  if (!rev.spec.config.template) return exposed(stored.config) ?? { desired: { revision: name, hash: rev.spec.contentHash, ...stored } };
  if (contentHash(stored) !== rev.spec.contentHash) {
    return reject(`revision ${name}'s content does not match its contentHash ${rev.spec.contentHash}: refusing a corrupted revision`);
  }
  try {
    const rendered = renderConfig({ ...stored, template: true }, instance);
    return exposed(rendered.config) ?? { desired: { revision: name, hash: contentHash(rendered), ...rendered } };
  } catch (e) {
    if (e instanceof TemplateError) return reject(e.message, e.file, e.line);
    throw e;
  }
}
