/**
 * String formats the schemas use, registered with TypeBox once for every consumer (server,
 * agent, hqctl, console): TypeBox refuses values with a format it does not know.
 */
import { FormatRegistry } from '@sinclair/typebox';

/** RFC 3339 date-time, as Kubernetes writes timestamps. */
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

if (!FormatRegistry.Has('date-time')) {
  FormatRegistry.Set('date-time', (v) => RFC3339.test(v) && !Number.isNaN(Date.parse(v)));
}
