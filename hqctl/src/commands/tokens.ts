/**
 * Credentials from hqctl: `create token` (API tokens for people and pipelines), `create
 * join-token` (an agent's single-use enrollment token, printed with the agent command that uses
 * it), `revoke agent`, and the token types of `get` and `delete` (tokens are listed and revoked
 * by their public id; a secret is printed once, when it is made).
 */
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { MAX_JOIN_TOKEN_TTL_SECONDS, humanDuration, type APIToken, type JoinToken } from '@haproxyhq/schemas';
import { parseDuration, str, strs } from '../args.ts';
import { OUTPUT_FLAG, deleteEach, type Command, type Context } from '../command.ts';
import { CliError } from '../errors.ts';
import { age, columns, listOf, toJson, toYaml } from '../printers.ts';
import { USER_TYPES, createUser } from './users.ts';

/** The names `get` and `delete` take for API tokens and join tokens. */
export const TOKEN_TYPES = ['tokens', 'token', 'apitokens', 'apitoken'];
export const JOIN_TOKEN_TYPES = ['join-tokens', 'join-token', 'jointokens', 'jointoken'];

/** `24h`, `30m`, `7d`, `90s`: seconds. kubectl's durations, plus days. */
export function ttlSeconds(text: string, flag: string): number {
  const days = /^(\d+)d$/.exec(text);
  const ms = days ? Number(days[1]) * 86_400_000 : parseDuration(text, flag);
  if (ms <= 0) throw new CliError(`invalid argument "${text}" for "--${flag}" flag: the lifetime must be more than 0`);
  return Math.ceil(ms / 1000);
}

/** When a token expires, as a table cell: its remaining time, `expired`, or `never`. */
export function expiresCell(expiration: string | undefined, now = Date.now()): string {
  if (!expiration) return 'never';
  const t = Date.parse(expiration);
  if (t <= now) return 'expired';
  return `in ${humanDuration(t - now)}`;
}

export function tokenRows(items: APIToken[], now = Date.now()): string[][] {
  return [
    ['ID', 'TYPE', 'USER', 'GROUPS', 'AGE', 'EXPIRES', 'DESCRIPTION'],
    ...items.map((t) => [
      t.metadata.name,
      t.type,
      t.user.name,
      t.user.groups.join(',') || '<none>',
      age(t.metadata.creationTimestamp, now),
      expiresCell(t.expirationTimestamp, now),
      t.description || '<none>',
    ]),
  ];
}

export function joinTokenRows(items: JoinToken[], now = Date.now()): string[][] {
  return [
    ['ID', 'INSTANCE', 'USED BY', 'AGE', 'EXPIRES', 'DESCRIPTION'],
    ...items.map((j) => [
      j.metadata.name,
      j.instance ?? '<any>',
      j.usedBy ?? '<none>',
      age(j.metadata.creationTimestamp, now),
      j.usedTimestamp ? 'used' : expiresCell(j.expirationTimestamp, now),
      j.description || '<none>',
    ]),
  ];
}

type Output = 'table' | 'json' | 'yaml';
function listOutput(ctx: Context): Output {
  const o = str(ctx.flags, 'output') ?? 'table';
  if (o === 'table' || o === 'json' || o === 'yaml') return o;
  throw new CliError(`unable to match a printer suitable for the output format "${o}", allowed formats are: json, yaml`);
}

/** `hqctl get tokens` / `hqctl get join-tokens`. */
export async function getTokens(ctx: Context, join: boolean): Promise<number> {
  const output = listOutput(ctx);
  if (ctx.positionals.length > 1) throw new CliError(`tokens are listed, not read one by one: hqctl get ${join ? 'join-tokens' : 'tokens'}`);
  const items: (APIToken | JoinToken)[] = join ? await ctx.client().listJoinTokens(ctx.namespace()) : await ctx.client().listTokens();
  if (output === 'json' || output === 'yaml') {
    const value = listOf(items);
    ctx.out(output === 'json' ? toJson(value) : toYaml(value));
    return 0;
  }
  if (items.length === 0) {
    ctx.err(join ? `No join tokens found in ${ctx.namespace()} namespace.\n` : 'No tokens found.\n');
    return 0;
  }
  ctx.out(columns(join ? joinTokenRows(items as JoinToken[]) : tokenRows(items as APIToken[])));
  return 0;
}

/** `hqctl delete token ID...` / `hqctl delete join-token ID...`. */
export async function deleteTokens(ctx: Context, join: boolean): Promise<number> {
  const ids = ctx.positionals.slice(1);
  if (ids.length === 0) throw new CliError(`you must give the id of the ${join ? 'join token' : 'token'} to delete (hqctl get ${join ? 'join-tokens' : 'tokens'} lists them)`);
  return deleteEach(
    ctx,
    ids,
    (id) => (join ? ctx.client().deleteJoinToken(ctx.namespace(), id) : ctx.client().revokeToken(id)),
    (id) => `${join ? 'join-token' : 'token'} "${id}"`,
  );
}

const HELP = `Create a user, an API token or an agent's join token.

Usage:
  hqctl create user NAME [--group GROUP]... [--password-stdin]
  hqctl create token --user NAME [--group GROUP]... [--ttl DURATION] [--description TEXT]
  hqctl create join-token [--ttl DURATION] [--instance NAME] [-n NAMESPACE] [--write-ca FILE]

A user signs in to the console with a password. With --password-stdin the password is the first
line of standard input; without it, a random one is made and printed once, on standard output.
What the user may do is what bindings give the user and the groups (system:masters: everything).

An API token authenticates a person or a pipeline as --user in the --group groups: what they may
do is what RoleBindings and ClusterRoleBindings give that user and groups. Only the token is
printed (on standard output, for scripts); it is not shown again. hqctl get tokens lists tokens by
id, hqctl delete token ID revokes one.

A join token lets one agent enroll, once, before it expires (default 1h, at most 7d), into the
namespace (and, with --instance, only as that HAProxyInstance): the agent gets a credential bound
to its own instance. The token is printed with the hq-agent command that uses it.

Examples:
  hqctl create user alice --group ops                     # prints alice's random password once
  printf '%s\\n' "$PW" | hqctl create user ci-viewer --password-stdin
  TOKEN=$(hqctl create token --user ci --group deployers --ttl 720h --description "CI deploys")
  hqctl create join-token --ttl 1h --instance edge-7 --write-ca ca.crt`;

export const createCommand: Command = {
  name: 'create',
  summary: 'Create a user, an API token or an agent join token',
  help: HELP,
  flags: [
    { name: 'user', type: 'string', help: 'token: the USER it authenticates as' },
    { name: 'group', type: 'strings', help: 'user, token: a GROUP of the user' },
    { name: 'password-stdin', type: 'bool', help: "user: read the password from standard input's first line" },
    { name: 'ttl', type: 'string', help: 'how long it works: DURATION such as 24h, 30m, 7d (token: until revoked; join-token: 1h)' },
    { name: 'description', type: 'string', help: 'TEXT saying what it is for, shown in lists' },
    { name: 'instance', type: 'string', help: 'join-token: only an agent enrolling as this instance NAME may use it' },
    { name: 'write-ca', type: 'string', help: "join-token: FILE to write the server's certificate authority to (from the kubeconfig), for the agent's --certificate-authority" },
    { ...OUTPUT_FLAG, help: 'FORMAT: json, yaml, or token (the secret alone)' },
  ],
  async run(ctx) {
    const what = ctx.positionals[0];
    if (what === undefined) throw new CliError('you must say what to create: hqctl create user NAME, hqctl create token --user NAME, or hqctl create join-token');
    if (USER_TYPES.includes(what)) return createUser(ctx);
    if (ctx.positionals.length > 1) throw new CliError(`unexpected argument "${ctx.positionals[1]}": see hqctl create --help`);
    if (TOKEN_TYPES.includes(what)) return createToken(ctx);
    if (JOIN_TOKEN_TYPES.includes(what)) return createJoinToken(ctx);
    throw new CliError(`hqctl create makes users, tokens and join tokens, not "${what}": use hqctl apply -f for resources`);
  },
};

function createOutput(ctx: Context, fallback: 'token' | 'text'): 'token' | 'text' | 'json' | 'yaml' {
  const o = str(ctx.flags, 'output') ?? fallback;
  if (o === 'token' || o === 'json' || o === 'yaml' || (o === 'text' && fallback === 'text')) return o;
  throw new CliError(`unable to match a printer suitable for the output format "${o}", allowed formats are: json, token, yaml`);
}

async function createToken(ctx: Context): Promise<number> {
  const user = str(ctx.flags, 'user');
  if (!user) throw new CliError('a token needs --user NAME: the user it authenticates as (RoleBindings name it)');
  for (const f of ['instance', 'write-ca']) if (str(ctx.flags, f) !== undefined) throw new CliError(`--${f} is for join tokens, not API tokens`);
  const output = createOutput(ctx, 'token');
  const ttl = str(ctx.flags, 'ttl');
  const token = await ctx.client().createToken({
    user: { name: user, groups: strs(ctx.flags, 'group') },
    ...(str(ctx.flags, 'description') !== undefined ? { description: str(ctx.flags, 'description') } : {}),
    ...(ttl !== undefined ? { ttlSeconds: ttlSeconds(ttl, 'ttl') } : {}),
  });
  if (output === 'json' || output === 'yaml') {
    ctx.out(output === 'json' ? toJson(token) : toYaml(token));
    return 0;
  }
  ctx.out(`${token.token}\n`);
  ctx.err(
    `token ${token.metadata.name} created for user "${token.user.name}"${token.user.groups.length ? ` in ${token.user.groups.join(', ')}` : ''}, ${token.expirationTimestamp ? `valid until ${token.expirationTimestamp}` : 'valid until revoked'}; it is not shown again (revoke it with hqctl delete token ${token.metadata.name})\n`,
  );
  return 0;
}

async function createJoinToken(ctx: Context): Promise<number> {
  if (str(ctx.flags, 'user') !== undefined || strs(ctx.flags, 'group').length > 0) {
    throw new CliError("--user and --group are for API tokens: an agent's user comes from its enrollment (system:agent:NAMESPACE:NAME)");
  }
  const output = createOutput(ctx, 'text');
  const ttl = str(ctx.flags, 'ttl');
  const seconds = ttl === undefined ? undefined : ttlSeconds(ttl, 'ttl');
  if (seconds !== undefined && seconds > MAX_JOIN_TOKEN_TTL_SECONDS) throw new CliError(`--ttl ${ttl} is too long: a join token lives at most 7d (168h)`);
  const instance = str(ctx.flags, 'instance');
  const caPath = str(ctx.flags, 'write-ca');
  const client = ctx.client();
  let ca: string | undefined;
  if (caPath !== undefined) {
    ca = client.certificateAuthority();
    if (!ca) throw new CliError('--write-ca: the kubeconfig names no CA for this server (certificate-authority-data or certificate-authority)');
  }
  const namespace = ctx.namespace();
  const join = await client.createJoinToken(namespace, {
    ...(seconds !== undefined ? { ttlSeconds: seconds } : {}),
    ...(instance !== undefined ? { instance } : {}),
    ...(str(ctx.flags, 'description') !== undefined ? { description: str(ctx.flags, 'description') } : {}),
  });
  if (caPath !== undefined) writeFileSync(caPath, ca!, { mode: 0o644 });
  if (output === 'json' || output === 'yaml') {
    ctx.out(output === 'json' ? toJson(join) : toYaml(join));
    return 0;
  }
  if (output === 'token') {
    ctx.out(`${join.token}\n`);
    return 0;
  }
  const command = [
    'hq-agent run',
    `--join-token ${join.token}`,
    `--server ${client.server}`,
    `--certificate-authority ${caPath !== undefined ? resolve(caPath) : 'CA_FILE'}`,
    ...(instance ? [`--name ${instance}`] : []),
  ].join(' ');
  ctx.out(
    `join-token ${join.metadata.name} created: one agent may enroll with it into namespace "${namespace}"${instance ? ` as haproxyinstance "${instance}"` : ''} until ${join.expirationTimestamp}.\n` +
      `${join.token}\n\n` +
      `On the host, start the agent with it (it enrolls once and keeps its credential in its --state-dir):\n` +
      `  ${command}\n` +
      (caPath !== undefined ? `(${resolve(caPath)}: the server's CA; copy it to the host)\n` : `(CA_FILE: the server's CA; --write-ca FILE writes it)\n`),
  );
  return 0;
}

export const revokeCommand: Command = {
  name: 'revoke',
  summary: "Revoke an agent's credentials",
  help: `Revoke every credential of an instance's agent: its requests get 401 at once, on every server.
To let it back in, make a join token for it (hqctl create join-token --instance NAME) and run
the agent with --join-token after deleting the kubeconfig in its state dir.

Usage:
  hqctl revoke agent NAME [-n NAMESPACE]

Examples:
  hqctl revoke agent edge-7`,
  flags: [],
  async run(ctx) {
    const [what, name, ...rest] = ctx.positionals;
    if (what !== 'agent' && what !== 'agents') throw new CliError('usage: hqctl revoke agent NAME [-n NAMESPACE]');
    if (!name) throw new CliError('you must name the agent\'s instance: hqctl revoke agent NAME');
    if (rest.length > 0) throw new CliError(`unexpected argument "${rest[0]}": revoke one agent at a time`);
    const namespace = ctx.namespace();
    const revoked = await ctx.client().revokeAgent(namespace, name);
    if (revoked.length === 0) {
      ctx.err(`haproxyinstance "${name}" in namespace "${namespace}" has no working credential: nothing to revoke\n`);
      return 0;
    }
    ctx.out(`revoked ${revoked.length} credential${revoked.length === 1 ? '' : 's'} of the agent of haproxyinstance "${name}" in namespace "${namespace}": ${revoked.map((t) => t.metadata.name).join(', ')}\n`);
    return 0;
  },
};
