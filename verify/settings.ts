/**
 * Where the verify command sends its requests and how patient it is, read from the environment once.
 * The endpoint variables exist so tests (and sandboxes) can point each service at a fake.
 */
import { DEFAULT_RETRY, RetrySettings } from "./retry";

export const DEFAULT_LWA_ENDPOINT = "https://api.amazon.com";
export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;

export interface Settings {
  /** The SDK's own variable name; undefined: the regional endpoint, https://sts.<region>.amazonaws.com. */
  stsEndpoint?: string;
  lwaEndpoint: string;
  /** undefined: the endpoint of the block's SP-API region (policies/regions.ts). */
  spApiEndpoint?: string;
  retry: RetrySettings;
  requestTimeoutMs: number;
}

/** Every variable the command reads, for the usage text and README. */
export const ENV_VARS = {
  AWS_ENDPOINT_URL_STS: "STS endpoint (default: https://sts.<region>.amazonaws.com)",
  SP_API_LWA_ENDPOINT: `LWA endpoint (default: ${DEFAULT_LWA_ENDPOINT})`,
  SP_API_ENDPOINT: "SP-API endpoint (default: the region's, e.g. https://sellingpartnerapi-na.amazon.com)",
  SP_API_VERIFY_RETRY_BUDGET_MS: `how long to wait for IAM propagation (default: ${DEFAULT_RETRY.budgetMs})`,
  SP_API_VERIFY_RETRY_BASE_MS: `first wait between retries, doubling (default: ${DEFAULT_RETRY.baseDelayMs})`,
  SP_API_VERIFY_TIMEOUT_MS: `timeout of each request (default: ${DEFAULT_REQUEST_TIMEOUT_MS})`,
} as const;

export class SettingsError extends Error {}

function endpointUrl(env: NodeJS.ProcessEnv, name: keyof typeof ENV_VARS): string | undefined {
  const value = env[name]?.trim();
  if (!value) return undefined;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new SettingsError(`${name}=${JSON.stringify(value)} is not a URL (expected e.g. https://host:port)`);
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    throw new SettingsError(`${name} must be an http(s) URL; given ${JSON.stringify(value)}`);
  }
  return value.replace(/\/+$/, "");
}

function milliseconds(env: NodeJS.ProcessEnv, name: keyof typeof ENV_VARS, fallback: number): number {
  const value = env[name]?.trim();
  if (!value) return fallback;
  if (!/^\d{1,9}$/.test(value)) throw new SettingsError(`${name} must be a whole number of milliseconds; given ${JSON.stringify(value)}`);
  return Number(value);
}

/** Pure: the environment is an argument. Throws SettingsError on a malformed value. */
export function readSettings(env: NodeJS.ProcessEnv): Settings {
  return {
    stsEndpoint: endpointUrl(env, "AWS_ENDPOINT_URL_STS"),
    lwaEndpoint: endpointUrl(env, "SP_API_LWA_ENDPOINT") ?? DEFAULT_LWA_ENDPOINT,
    spApiEndpoint: endpointUrl(env, "SP_API_ENDPOINT"),
    retry: {
      budgetMs: milliseconds(env, "SP_API_VERIFY_RETRY_BUDGET_MS", DEFAULT_RETRY.budgetMs),
      baseDelayMs: milliseconds(env, "SP_API_VERIFY_RETRY_BASE_MS", DEFAULT_RETRY.baseDelayMs),
      maxDelayMs: DEFAULT_RETRY.maxDelayMs,
    },
    requestTimeoutMs: Math.max(1, milliseconds(env, "SP_API_VERIFY_TIMEOUT_MS", DEFAULT_REQUEST_TIMEOUT_MS)),
  };
}
