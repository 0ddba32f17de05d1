import type { Config } from '../src/config.js';
import type { Progress } from '../src/stack/progress.js';
import type { KeycloakAdminRest, KeycloakTarget } from './keycloak.js';
import type { Row } from './report.js';

/** What every workload gets from the bench's set-up. */
export interface BenchContext {
  /** The bench's gateway configuration: realm iam-bench, database iam_gateway_bench. */
  config: Config;
  /** The environment the stack produced, for the servers the bench forks. */
  env: Record<string, string | undefined>;
  keycloak: KeycloakTarget;
  /** The bench realm's admin API, as the master admin. */
  admin: KeycloakAdminRest;
  /** Runs per figure (3). */
  runs: number;
  progress: Progress;
}

export interface WorkloadResult {
  rows: Row[];
  notes: string[];
}

export interface GraphQLAnswer<T = any> {
  status: number;
  data?: T;
  errors?: { message: string; extensions?: { code?: string } }[];
}

/** One GraphQL request over HTTP, as a client sends it. */
export async function graphql<T = any>(
  url: string,
  query: string,
  options: { variables?: Record<string, unknown>; token?: string } = {},
): Promise<GraphQLAnswer<T>> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(options.token && { authorization: `Bearer ${options.token}` }) },
    body: JSON.stringify({ query, variables: options.variables }),
  });
  return { status: response.status, ...((await response.json()) as object) };
}

/** The answer's data, or an error naming what went wrong. */
export async function graphqlData<T = any>(url: string, query: string, options: Parameters<typeof graphql>[2] = {}): Promise<T> {
  const answer = await graphql<T>(url, query, options);
  if (answer.status !== 200 || answer.errors || !answer.data) {
    throw new Error(`${url} answered ${answer.status}: ${JSON.stringify(answer.errors ?? answer).slice(0, 500)}`);
  }
  return answer.data;
}
