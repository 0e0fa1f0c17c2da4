/**
 * Users from hqctl: `create user` (the password from standard input, or a random one printed
 * once), the user types of `get` and `delete`, and `passwd`, which changes your own password
 * (with the current one) or, for an admin, anyone's. Passwords are read from the terminal without
 * echo, or from standard input when it is not a terminal (one per line); never from a flag, which
 * would leave them in the shell's history and in `ps`.
 */
import { randomBytes } from 'node:crypto';
import { humanDuration, type User } from '@haproxyhq/schemas';
import { bool, str, strs } from '../args.ts';
import { deleteEach, type Command, type Context } from '../command.ts';
import { ApiError, CliError } from '../errors.ts';
import { age, columns, listOf, toJson, toYaml } from '../printers.ts';

/** The names `get`, `delete` and `create` take for users. */
export const USER_TYPES = ['users', 'user'];

export function userRows(items: User[], now = Date.now()): string[][] {
  return [
    ['NAME', 'GROUPS', 'PASSWORD CHANGED', 'AGE'],
    ...items.map((u) => [
      u.metadata.name,
      u.groups.join(',') || '<none>',
      `${humanDuration(Math.max(0, now - Date.parse(u.passwordChangedTime)))} ago`,
      age(u.metadata.creationTimestamp, now),
    ]),
  ];
}

/** `hqctl get users [NAME...]`. */
export async function getUsers(ctx: Context): Promise<number> {
  const o = str(ctx.flags, 'output') ?? 'table';
  if (o !== 'table' && o !== 'json' && o !== 'yaml' && o !== 'name') {
    throw new CliError(`unable to match a printer suitable for the output format "${o}", allowed formats are: json, name, yaml`);
  }
  const names = ctx.positionals.slice(1);
  const items = names.length > 0 ? await Promise.all(names.map((n) => ctx.client().getUser(n))) : await ctx.client().listUsers();
  if (o === 'json' || o === 'yaml') {
    const value = names.length === 1 ? items[0] : listOf(items);
    ctx.out(o === 'json' ? toJson(value) : toYaml(value));
    return 0;
  }
  if (o === 'name') {
    for (const u of items) ctx.out(`user/${u.metadata.name}\n`);
    return 0;
  }
  if (items.length === 0) {
    ctx.err('No users found.\n');
    return 0;
  }
  ctx.out(columns(userRows(items)));
  return 0;
}

/** `hqctl delete user NAME...`: the user and every session of theirs. */
export async function deleteUsers(ctx: Context): Promise<number> {
  const names = ctx.positionals.slice(1);
  if (names.length === 0) throw new CliError('you must name the user to delete (hqctl get users lists them)');
  return deleteEach(ctx, names, (name) => ctx.client().deleteUser(name), (name) => `user "${name}"`);
}

/** `hqctl create user NAME [--group G]... [--password-stdin]`. */
export async function createUser(ctx: Context): Promise<number> {
  const [, name, ...rest] = ctx.positionals;
  if (!name) throw new CliError('you must name the user: hqctl create user NAME [--group GROUP]... [--password-stdin]');
  if (rest.length > 0) throw new CliError(`unexpected argument "${rest[0]}": create one user at a time`);
  for (const f of ['user', 'ttl', 'description', 'instance', 'write-ca', 'output']) {
    if (ctx.flags[f] !== undefined) throw new CliError(`--${f} is not for users: see hqctl create --help`);
  }
  const fromStdin = bool(ctx.flags, 'password-stdin');
  let password: string;
  if (fromStdin) {
    password = firstLine(ctx.stdin());
    if (password === '') throw new CliError('--password-stdin: standard input held no password');
  } else {
    // 160 random bits, shown once.
    password = randomBytes(20).toString('base64url');
  }
  const groups = strs(ctx.flags, 'group');
  const user = await ctx.client().createUser({ name, groups, password });
  const inGroups = user.groups.length ? ` in ${user.groups.join(', ')}` : '';
  if (fromStdin) {
    ctx.out(`user "${user.metadata.name}" created${inGroups}\n`);
  } else {
    ctx.out(`${password}\n`);
    ctx.err(
      `user "${user.metadata.name}" created${inGroups}; the password above is not shown again: hand it over safely, and have them change it (hqctl passwd, signed in as them)\n`,
    );
  }
  return 0;
}

export const passwdCommand: Command = {
  name: 'passwd',
  summary: 'Change your password, or (admins) reset a user\'s',
  help: `Change your own password (you are asked for the current one), or, with the permission to
update users/password (admins), set another user's without knowing it. Either way, every other
console session of that user ends.

Passwords are read from the terminal without echo; when standard input is not a terminal, one per
line: the current password then the new one for your own, the new one alone for someone else's.

Usage:
  hqctl passwd [NAME]

Examples:
  hqctl passwd                                  # your own, asked for at the terminal
  hqctl passwd alice                            # an admin resets alice's
  printf '%s\\n' "$OLD" "$NEW" | hqctl passwd     # in a script`,
  flags: [],
  async run(ctx) {
    const [target, ...rest] = ctx.positionals;
    if (rest.length > 0) throw new CliError(`unexpected argument "${rest[0]}": hqctl passwd [NAME]`);
    const client = ctx.client();
    const me = (await client.whoAmI()).user.name;
    const name = target ?? me;
    const own = name === me;
    const read = secretReader(ctx);
    const currentPassword = own ? await read('Current password: ') : undefined;
    const newPassword = await read(`New password for ${name}: `);
    if (newPassword === '') throw new CliError('the new password is empty');
    if (read.interactive && (await read('Retype the new password: ')) !== newPassword) throw new CliError('the passwords you typed differ: nothing changed');
    await client.changePassword(name, { ...(currentPassword !== undefined ? { currentPassword } : {}), newPassword });
    ctx.out(`password of user "${name}" changed; their other console sessions have ended\n`);
    return 0;
  },
};

export const groupsCommand: Command = {
  name: 'groups',
  summary: "Show or change a user's groups",
  help: `Show a user's groups, set them, or add and remove some. Needs the permission to update users
(admins); moving a user into or out of a system: group needs system:masters. The user's console
sessions follow within seconds: they read the user as stored.

Usage:
  hqctl groups USER                          # print them, one per line
  hqctl groups USER GROUP...                 # exactly these
  hqctl groups USER [--add GROUP]... [--remove GROUP]...

Examples:
  hqctl groups alice ops deployers
  hqctl groups bob --add editors --remove viewers`,
  flags: [
    { name: 'add', type: 'strings', help: 'a GROUP to add (repeatable)' },
    { name: 'remove', type: 'strings', help: 'a GROUP to remove (repeatable)' },
  ],
  async run(ctx) {
    const [name, ...given] = ctx.positionals;
    if (name === undefined) throw new CliError('you must name the user: hqctl groups USER [GROUP...]');
    const add = strs(ctx.flags, 'add') ?? [];
    const remove = strs(ctx.flags, 'remove') ?? [];
    if (given.length > 0 && (add.length > 0 || remove.length > 0)) throw new CliError('give the groups, or --add and --remove, not both');
    const both = add.filter((g) => remove.includes(g));
    if (both.length > 0) throw new CliError(`--add and --remove both name ${both.join(', ')}`);
    const client = ctx.client();
    if (given.length === 0 && add.length === 0 && remove.length === 0) {
      const user = await client.getUser(name);
      ctx.out(user.groups.map((g) => `${g}\n`).join(''));
      return 0;
    }
    const want = (now: string[]) => (given.length > 0 ? [...new Set(given)] : [...new Set([...now.filter((g) => !remove.includes(g)), ...add])]);
    // Written over the user as read; changed meanwhile (a Conflict), read again once.
    for (let attempt = 0; ; attempt++) {
      const user = await client.getUser(name);
      const groups = want(user.groups);
      if (groups.length === user.groups.length && groups.every((g) => user.groups.includes(g))) {
        ctx.out(`user "${name}" unchanged: ${groups.join(', ') || 'no groups'}\n`);
        return 0;
      }
      try {
        const updated = await client.updateUser({ ...user, groups });
        ctx.out(`user "${name}" is now in ${updated.groups.join(', ') || 'no groups'}\n`);
        return 0;
      } catch (err) {
        if (!(err instanceof ApiError) || err.code !== 409 || attempt > 0) throw err;
      }
    }
  },
};

const firstLine = (text: string) => text.split(/\r?\n/)[0] ?? '';

/** Reads one secret per call: from the terminal without echo, or the next line of standard input. */
function secretReader(ctx: Context): ((prompt: string) => Promise<string>) & { interactive: boolean } {
  const interactive = process.stdin.isTTY === true && typeof process.stdin.setRawMode === 'function';
  let lines: string[] | undefined;
  const read = async (prompt: string): Promise<string> => {
    if (interactive) return promptHidden(prompt);
    lines ??= ctx.stdin().split(/\r?\n/);
    const line = lines.shift();
    if (line === undefined || (line === '' && lines.every((l) => l === ''))) {
      throw new CliError(`standard input ended before the ${prompt.replace(/:\s*$/, '').toLowerCase()} (give one password per line)`);
    }
    return line;
  };
  return Object.assign(read, { interactive });
}

/** Ask at the terminal (on stderr) and read a line without echoing it. */
function promptHidden(prompt: string): Promise<string> {
  const stdin = process.stdin;
  process.stderr.write(prompt);
  stdin.setRawMode(true);
  stdin.resume();
  stdin.setEncoding('utf8');
  return new Promise((resolve, reject) => {
    let typed = '';
    const done = (err?: Error) => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write('\n');
      if (err) reject(err);
      else resolve(typed);
    };
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n' || ch === '\u0004') return done();
        if (ch === '\u0003') return done(new CliError('interrupted: nothing changed', 130));
        if (ch === '\u007f' || ch === '\b') typed = typed.slice(0, -1);
        else if (ch >= ' ') typed += ch;
      }
    };
    stdin.on('data', onData);
  });
}
