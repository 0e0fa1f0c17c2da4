/**
 * `hqctl diff -f`: what apply would change, as a unified diff per object of the live object
 * against the server's dry-run result of the apply. Exit 0: no differences; 1: differences;
 * 2 or more: an error (kubectl diff's convention, so scripts can tell them apart).
 */
import { createTwoFilesPatch, FILE_HEADERS_ONLY } from 'diff';
import { API_VERSION } from '@haproxyhq/schemas';
import { strs } from '../args.ts';
import { FILENAME_FLAG, type Command } from '../command.ts';
import { CliError } from '../errors.ts';
import { readManifests } from '../manifests.ts';
import { toYaml } from '../printers.ts';
import { APPLICABLE_KINDS, type AnyObject } from '../resources.ts';
import { planAll } from './apply.ts';

/** Exit status for errors: anything above 1, so that 1 keeps meaning "there are differences". */
export const DIFF_ERROR_EXIT = 2;

/** The object without the fields every write changes (they would be noise in every diff). */
function comparable(obj: AnyObject, kind: string): string {
  const metadata: Record<string, unknown> = { ...obj.metadata };
  for (const k of ['uid', 'resourceVersion', 'creationTimestamp', 'generation']) delete metadata[k];
  const copy: Record<string, unknown> = { apiVersion: API_VERSION, kind, ...obj, metadata };
  delete copy.status;
  return toYaml(copy);
}

export const diffCommand: Command = {
  name: 'diff',
  summary: 'Show what apply -f would change (exit 0: none, 1: differences, 2: error)',
  help: `Diff the live objects against what apply -f would make of them (a server dry run).

Exit status: 0 when nothing would change, 1 when something would, 2 or more on error.

Usage:
  hqctl diff -f FILE|DIR|- [flags]

Examples:
  hqctl diff -f manifests/examples/
  hqctl diff -f web.yaml && echo "web is up to date"`,
  flags: [FILENAME_FLAG],
  errorExitCode: DIFF_ERROR_EXIT,
  async run(ctx) {
    if (ctx.positionals.length > 0) throw new CliError(`unexpected arguments: ${ctx.positionals.join(' ')} (diff takes -f)`);
    const namespace = ctx.namespace();
    const manifests = readManifests(strs(ctx.flags, 'filename'), {
      verb: 'diff',
      kinds: APPLICABLE_KINDS,
      stdin: ctx.stdin,
      namespace,
      explicitNamespace: ctx.explicitNamespace,
    });
    const plans = await planAll(ctx.client(), manifests, namespace);
    let differs = false;
    for (const p of plans) {
      if (p.action === 'unchanged') continue;
      const kind = p.manifest.resource.kind;
      const id = `${API_VERSION.replace('/', '.')}.${kind}.${p.namespace}.${p.manifest.name}`;
      const before = p.action === 'update' ? comparable(p.live, kind) : '';
      const after = comparable(p.result, kind);
      if (before === after) continue;
      differs = true;
      const patch = createTwoFilesPatch(`live/${id}`, `merged/${id}`, before, after, undefined, undefined, { headerOptions: FILE_HEADERS_ONLY });
      ctx.out(`diff -u -N live/${id} merged/${id}\n${patch}`);
    }
    return differs ? 1 : 0;
  },
};
