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
  AWS_ENDPOINT_URL_STS: "STS endpoint (default: https://sts.<region>.amazonaws.com); http:// only to loopback",
  SP_API_LWA_ENDPOINT: `LWA endpoint (default: ${DEFAULT_LWA_ENDPOINT})`,
  SP_API_ENDPOINT: "SP-API endpoint (default: the region's, e.g. https://sellingpartnerapi-na.amazon.com)",
  SP_API_VERIFY_RETRY_BUDGET_MS: `how long to wait for IAM propagation (default: ${DEFAULT_RETRY.budgetMs})`,
  SP_API_VERIFY_RETRY_BASE_MS: `first wait between retries, doubling (default: ${DEFAULT_RETRY.baseDelayMs})`,
  SP_API_VERIFY_TIMEOUT_MS: `time each request may take, from sending it to the answer's last byte (default: ${DEFAULT_REQUEST_TIMEOUT_MS})`,
} as const;

export class SettingsError extends Error {}

/** The URL as messages may show it: a user name or password replaced by "***". */
export function showUrl(url: URL): string {
  if (!url.username && !url.password) return url.href;
  const shown = new URL(url.href);
  shown.username = url.username ? "***" : "";
  shown.password = url.password ? "***" : "";
  return shown.href;
}

/** 127.0.0.0/8, ::1 and localhost: plain http never leaves the machine. */
export function isLoopback(url: URL): boolean {
  const host = url.hostname.replace(/^\[|\]$/g, "");
  return host === "localhost" || host === "::1" || /^127(\.\d{1,3}){3}$/.test(host);
}

function endpointUrl(env: NodeJS.ProcessEnv, name: keyof typeof ENV_VARS): string | undefined {
  const value = env[name]?.trim();
  if (!value) return undefined;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    // Not echoed: a variable set by mistake may hold anything.
    throw new SettingsError(`${name} is not a URL (expected e.g. https://host:port)`);
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    throw new SettingsError(`${name} must be an https:// URL; given ${url.protocol} (${showUrl(url)})`);
  }
  if (url.username || url.password) {
    // fetch refuses such URLs, and the password would reach every message that names the endpoint.
    throw new SettingsError(`${name} holds a user name or password (${showUrl(url)}); give the endpoint without them`);
  }
  if (url.protocol === "http:" && !isLoopback(url)) {
    throw new SettingsError(
      `${name} is plain http:// to another machine (${showUrl(url)}): the client secret, refresh token and session keys ` +
        "would cross the network unencrypted. Use https://, or http:// only to 127.0.0.1, ::1 or localhost",
    );
  }
  if (url.search || url.hash) throw new SettingsError(`${name} must not hold a query or fragment (${showUrl(url)})`);
  return url.href.replace(/\/+$/, "");
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
