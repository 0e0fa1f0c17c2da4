/**
 * Request and answer over a forked child's IPC channel, for the benchmarks that run a part of
 * themselves in another process (its own file descriptors, CPU accounting and memory): the parent
 * holds an IpcChild, the child calls serve().
 */
import { fork, type ChildProcess, type Serializable } from 'node:child_process';

/** A request: its command and arguments (the id is added by IpcChild). */
export type IpcRequest = { cmd: string } & Record<string, unknown>;

/** The parent's handle on a forked child: call() resolves with its answer or rejects with its error. */
export class IpcChild {
  readonly process: ChildProcess;
  private seq = 0;
  private readonly waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();

  /** `name` says whose exit failed a call ("the simulator exited (SIGKILL)"). */
  constructor(name: string, file: string, args: string[], options: { execArgv?: string[]; env?: NodeJS.ProcessEnv; serialization?: 'json' | 'advanced' } = {}) {
    this.process = fork(file, args, {
      execPath: process.execPath,
      execArgv: options.execArgv ?? [],
      env: options.env ?? process.env,
      serialization: options.serialization ?? 'json',
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.process.on('message', (m: { id: number; result?: unknown; error?: string }) => {
      const w = this.waiting.get(m.id);
      if (!w) return;
      this.waiting.delete(m.id);
      if (m.error !== undefined) w.reject(new Error(m.error));
      else w.resolve(m.result);
    });
    this.process.on('exit', (code, signal) => {
      for (const w of this.waiting.values()) w.reject(new Error(`${name} exited (${signal ?? code})`));
      this.waiting.clear();
    });
  }

  get exited(): boolean {
    return this.process.exitCode !== null || this.process.signalCode !== null;
  }

  call<T>(msg: IpcRequest): Promise<T> {
    const id = ++this.seq;
    return new Promise<T>((resolve, reject) => {
      this.waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.process.send({ ...msg, id } as Serializable);
    });
  }

  /** SIGKILL, and wait for the exit. */
  async kill(): Promise<void> {
    if (this.exited) return;
    const exited = new Promise((r) => this.process.once('exit', r));
    this.process.kill('SIGKILL');
    await exited;
  }
}

/** In the child: answer each request with what `handle` resolves to (or its error's message); exit when the parent goes. */
export function serve<M extends IpcRequest>(handle: (msg: M) => Promise<unknown>): void {
  process.on('message', (msg: M & { id: number }) => {
    handle(msg).then(
      (result) => process.send!({ id: msg.id, result }),
      (err: unknown) => process.send!({ id: msg.id, error: (err as Error).message }),
    );
  });
  process.on('disconnect', () => process.exit(0));
}
