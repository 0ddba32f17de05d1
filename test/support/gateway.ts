import { inject } from 'vitest';
import { createApp, type App } from '../../src/app.js';
import { createGraphiql } from '../../src/ide.js';
import type { RateLimits } from '../../src/config.js';
import type { Config } from '../../src/config.js';

export interface GraphQLResponse<T = Record<string, unknown>> {
  status: number;
  data?: T | null;
  errors?: { message: string; path?: string[]; extensions: { code: string; status: number; fieldErrors?: Record<string, string> } }[];
}

export interface TestGateway {
  app: App;
  url: string;
  graphql<T = Record<string, any>>(
    query: string,
    options?: { variables?: Record<string, unknown>; token?: string; headers?: Record<string, string> },
  ): Promise<GraphQLResponse<T>>;
  close(): Promise<void>;
}

/** A gateway on a free port, configured like the one `npm run dev` starts, over real HTTP. */
export async function startTestGateway(
  overrides: (config: Config) => Config = (config) => config,
  options: Parameters<typeof createApp>[1] = {},
  port = 0,
): Promise<TestGateway> {
  const config = overrides(inject('config'));
  const app = await createApp(config, { ide: createGraphiql(config), ...options });
  const url = await app.listen(port);
  return {
    app,
    url,
    async graphql(query, options = {}) {
      const response = await fetch(url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(options.token && { authorization: `Bearer ${options.token}` }),
          ...options.headers,
        },
        body: JSON.stringify({ query, variables: options.variables }),
      });
      return { status: response.status, ...((await response.json()) as object) };
    },
    close: () => app.close(),
  };
}

/** Every counter of every rate-limited operation out of reach: for tests that count something else than attempts. */
export const unlimited = (limits: RateLimits): RateLimits =>
  Object.fromEntries(
    Object.entries(limits).map(([operation, counters]) => [
      operation,
      Object.fromEntries(Object.keys(counters).map((counter) => [counter, { max: 1_000_000_000, windowSeconds: 3600 }])),
    ]),
  ) as RateLimits;
