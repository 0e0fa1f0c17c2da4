/** Label and annotation keys shared by server, agent, hqctl and console (no imports: the console bundles this alone). */

/** Label every ConfigRevision carries: the HAProxyConfig it snapshots. */
export const CONFIG_LABEL = 'haproxyhq.io/config';
