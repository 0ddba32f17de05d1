/**
 * The child side of a bench server: each server runs in a process of its own, forked by
 * the bench, tells the parent its URL once it listens, and answers the parent's questions
 * (statement counts, CPU time used) over the IPC channel. The load generator never runs in here.
 */
export type Command = { id: number; command: string };
export type CommandHandler = (command: string) => unknown;

export function announce(url: string, handle: CommandHandler = () => undefined): void {
  if (!process.send) throw new Error('a bench server runs as a child process of the bench (npm run bench)');
  process.on('message', (message: Command) => {
    Promise.resolve()
      .then(() => (message.command === 'cpu' ? cpuMicroseconds() : handle(message.command)))
      .then(
        (result) => process.send!({ id: message.id, result }),
        (error: unknown) => process.send!({ id: message.id, error: String(error) }),
      );
  });
  // The parent going away ends the server too.
  process.on('disconnect', () => process.exit(0));
  // An exit of its own rather than the signal's default, so that a CPU profile asked for
  // (BENCH_CPU_PROFILE_DIR, bench/processes.ts) is written on the way out.
  process.on('SIGTERM', () => process.exit(0));
  process.send({ type: 'ready', url });
}

/** CPU time this process has used so far (user and system), in microseconds. */
function cpuMicroseconds(): number {
  const { user, system } = process.cpuUsage();
  return user + system;
}

/** Counts statements while asked to: `count-start`, then `count-stop` answers the count. */
export function statementCounter(): { record: () => void; handle: CommandHandler; active: () => boolean } {
  let counting = false;
  let count = 0;
  return {
    record: () => {
      if (counting) count++;
    },
    active: () => counting,
    handle: (command) => {
      if (command === 'count-start') {
        counting = true;
        count = 0;
        return 0;
      }
      if (command === 'count-stop') {
        counting = false;
        return count;
      }
      throw new Error(`unknown command ${command}`);
    },
  };
}
