/**
 * Human-readable progress for the local stack: what is starting and how long it took.
 * Written to stderr so that stdout stays the gateway's structured log.
 */
export interface Progress {
  step<T>(what: string, run: () => Promise<T>, describe?: (result: T) => string): Promise<T>;
  info(message: string): void;
}

export function terminalProgress(out: NodeJS.WritableStream = process.stderr): Progress {
  return {
    async step(what, run, describe) {
      const started = performance.now();
      out.write(`▸ ${what}…\n`);
      const result = await run();
      const seconds = ((performance.now() - started) / 1000).toFixed(1);
      const detail = describe ? ` ${describe(result)}` : '';
      out.write(`✔ ${what} (${seconds} s)${detail}\n`);
      return result;
    },
    info(message) {
      out.write(`  ${message}\n`);
    },
  };
}

export const silentProgress: Progress = {
  step: (_what, run) => run(),
  info: () => {},
};

/** A failure of the local stack whose message tells a person what to do. */
export class StackError extends Error {
  override name = 'StackError';
}
