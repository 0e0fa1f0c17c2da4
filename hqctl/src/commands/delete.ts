/** `hqctl delete`: by name, by TYPE/NAME, by -f manifests, or by -l selector. */
import { bool, str, strs } from '../args.ts';
import { ALL_NAMESPACES_FLAG, FILENAME_FLAG, SELECTOR_FLAG, deleteEach, type Command } from '../command.ts';
import { CliError } from '../errors.ts';
import { readManifests } from '../manifests.ts';
import { JOIN_TOKEN_TYPES, TOKEN_TYPES, deleteTokens } from './tokens.ts';
import { USER_TYPES, deleteUsers } from './users.ts';
import { ALL_RESOURCES, parseResourceArgs, singularQuoted, type Resource } from '../resources.ts';

export const deleteCommand: Command = {
  name: 'delete',
  summary: 'Delete resources by name, by file, or by label selector',
  help: `Delete resources by name, by the manifests in files, or by label selector.

Usage:
  hqctl delete TYPE NAME... [flags]
  hqctl delete TYPE/NAME... [flags]
  hqctl delete -f FILE|DIR|- [flags]
  hqctl delete TYPE -l SELECTOR | --all [flags]
  hqctl delete token ID...          revoke API tokens (hqctl get tokens lists their ids)
  hqctl delete join-token ID...     delete unused join tokens of the namespace
  hqctl delete user NAME...         delete users (their console sessions end)

Examples:
  hqctl delete haproxyinstance edge-1
  hqctl delete hc/web
  hqctl delete -f manifests/examples/
  hqctl delete hi -l env=staging`,
  flags: [
    FILENAME_FLAG,
    SELECTOR_FLAG,
    ALL_NAMESPACES_FLAG,
    { name: 'all', type: 'bool', help: 'delete every object of the type in the namespace' },
    { name: 'ignore-not-found', type: 'bool', help: 'treat a missing object as deleted' },
  ],
  async run(ctx) {
    const first = ctx.positionals[0]?.toLowerCase();
    if (first !== undefined && TOKEN_TYPES.includes(first)) return deleteTokens(ctx, false);
    if (first !== undefined && JOIN_TOKEN_TYPES.includes(first)) return deleteTokens(ctx, true);
    if (first !== undefined && USER_TYPES.includes(first)) return deleteUsers(ctx);
    const files = strs(ctx.flags, 'filename');
    const selector = str(ctx.flags, 'selector');
    const every = bool(ctx.flags, 'all');
    const allNs = bool(ctx.flags, 'all-namespaces');
    const targets: { r: Resource; namespace: string; name: string }[] = [];
    const client = () => ctx.client();

    if (files.length > 0) {
      if (ctx.positionals.length > 0) throw new CliError('resources given as arguments cannot be used with -f');
      const manifests = readManifests(files, {
        verb: 'delete',
        kinds: ALL_RESOURCES.map((r) => r.kind),
        stdin: ctx.stdin,
        namespace: ctx.namespace(),
        explicitNamespace: ctx.explicitNamespace,
      });
      for (const m of manifests) targets.push({ r: m.resource, namespace: m.namespace ?? ctx.namespace(), name: m.name });
    } else {
      const { types, refs } = parseResourceArgs(ctx.positionals);
      if (types.length === 0 && refs.length === 0) throw new CliError('you must provide one or more resources by argument or filename (-f)');
      if (refs.length > 0) {
        if (selector || every) throw new CliError('name cannot be provided when a selector or --all is specified');
        for (const ref of refs) targets.push({ r: ref.resource, namespace: ctx.namespace(), name: ref.name });
      } else {
        if (!selector && !every) {
          throw new CliError(`resource(s) were provided, but no name was specified: give names, -l SELECTOR or --all`);
        }
        for (const r of types) {
          const list = await client().list(r, { namespace: allNs ? undefined : ctx.namespace(), labelSelector: selector });
          for (const obj of list.items) targets.push({ r, namespace: obj.metadata.namespace ?? ctx.namespace(), name: obj.metadata.name ?? '' });
        }
        if (targets.length === 0) {
          ctx.err(allNs ? 'No resources found\n' : `No resources found in ${ctx.namespace()} namespace.\n`);
          return 0;
        }
      }
    }

    return deleteEach(ctx, targets, (t) => client().delete(t.r, t.namespace, t.name), (t) => singularQuoted(t.r, t.name));
  },
};
