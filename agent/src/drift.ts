/**
 * Local edits. `chokidar` lives here and nowhere else: it only says "something changed"; what
 * changed and whether it matters is decided by the reconcile pass, from scratch.
 */
import { watch } from 'chokidar';
import { createTwoFilesPatch } from 'diff';
import { basename, dirname } from 'node:path';

/** Largest diff put into a condition message (the rest is summarised). */
export const MAX_DIFF_BYTES = 16 * 1024;

export interface FileWatcher {
  close(): Promise<void>;
}

/**
 * Watch the managed config and its directory (maps, ACL lists...). Calls `onChange` for any
 * file event, except the agent's own staging and temp files.
 */
export function watchManagedFiles(configPath: string, onChange: (path: string) => void): FileWatcher {
  const dir = dirname(configPath);
  const watcher = watch(dir, {
    ignoreInitial: true,
    // Editors save by rename; atomic writes by the agent itself rename too.
    atomic: true,
    depth: 4,
    ignored: (path: string) => /(^|\/)\.hq-|\.tmp$|~$|\.swp$/.test(basename(path)) || /\/\.[^/]+\//.test(path),
  });
  watcher.on('all', (_event, path) => onChange(path));
  return { close: () => watcher.close() };
}

export interface FileSet {
  config: string;
  files: { path: string; content: string }[];
}

/** A unified diff from `applied` to `local`, file by file, as `diff -u` would print it. */
export function unifiedDiff(applied: FileSet, local: FileSet, configName = 'haproxy.cfg'): string {
  const parts: string[] = [];
  const add = (name: string, before: string | undefined, after: string | undefined) => {
    if (before === after) return;
    parts.push(createTwoFilesPatch(`a/${name}`, `b/${name}`, before ?? '', after ?? '', undefined, undefined, { context: 3 }).replace(/^=+\n/, ''));
  };
  add(configName, applied.config, local.config);
  const paths = new Set([...applied.files.map((f) => f.path), ...local.files.map((f) => f.path)]);
  for (const p of [...paths].sort()) {
    add(p, applied.files.find((f) => f.path === p)?.content, local.files.find((f) => f.path === p)?.content);
  }
  const text = parts.join('');
  if (Buffer.byteLength(text) <= MAX_DIFF_BYTES) return text;
  return `${text.slice(0, MAX_DIFF_BYTES)}\n… (diff truncated at ${MAX_DIFF_BYTES} bytes)\n`;
}
