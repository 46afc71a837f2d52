/**
 * The network, one place for it: every request bounded in time (deadlines), waiting out IAM propagation
 * (retries), the endpoints the commands may be pointed at (and which are refused), and AWS SDK client settings.
 */
import * as fs from "fs";
import { createRequire } from "module";
import * as os from "os";
import * as path from "path";
import type { ProxyAgent as NodeProxyAgent } from "proxy-agent";
import { getProxyForUrl } from "proxy-from-env";
import type { RequestInit as UndiciRequestInit } from "undici";
import type { StackConfigView } from "./pulumi";

// ---- Deadlines

/**
 * Bounding every request in time. A peer that accepts and never answers, or trickles its answer a byte at a
 * time, must not hold the command: each request gets SP_API_VERIFY_TIMEOUT_MS from sending to the last byte
 * of the body. Our own timer decides, not the library's error: undici and the AWS SDK report an abort mid-body
 * as AbortError, ECONNRESET or a DOMException code 23, which would not say that the time ran out.
 */

export type Deadlined<T> = { kind: "done"; value: T } | { kind: "timed-out" } | { kind: "failed"; error: unknown };

/** Runs `work` with a signal that aborts after `timeoutMs`; returns when the work ends or the time is up,
 * whichever comes first, so a library that ignores the signal while reading a body cannot keep us waiting. */
export async function withDeadline<T>(timeoutMs: number, work: (signal: AbortSignal) => Promise<T>): Promise<Deadlined<T>> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<{ kind: "timed-out" }>((resolve) => {
    timer = setTimeout(() => {
      resolve({ kind: "timed-out" });
      controller.abort();
    }, timeoutMs);
  });
  const running = work(controller.signal).then(
    (value): Deadlined<T> => ({ kind: "done", value }),
    (error: unknown): Deadlined<T> => ({ kind: "failed", error }),
  );
  try {
    const outcome = await Promise.race([running, expired]);
    // An abort makes the work fail; that failure is the timeout's doing.
    return controller.signal.aborted ? { kind: "timed-out" } : outcome;
  } finally {
    clearTimeout(timer);
  }
}

/** An HTTP exchange reduced to what the steps judge. The body is read whole (up to a cap) within the deadline. */
export type HttpAnswer =
  | { kind: "answered"; status: number; contentType: string; requestId?: string; text: string }
  | { kind: "too-large"; status: number; limitBytes: number }
  | { kind: "timed-out"; timeoutMs: number }
  | { kind: "unreachable"; code: string };

/** More than any token or marketplace answer; a peer sending more is not the service. */
export const MAX_ANSWER_BYTES = 1024 * 1024;

class TooLarge extends Error {
  constructor(readonly status: number) {
    super("answer too large");
  }
}

/**
 * fetch, then the body, both within `timeoutMs`. Redirects are answers, not followed. Through the proxy that
 * HTTPS_PROXY / HTTP_PROXY / NO_PROXY name for the URL (proxyFor), if any; the deadline covers the proxy too.
 */
export async function fetchWithDeadline(url: string | URL, init: RequestInit, timeoutMs: number, maxBytes = MAX_ANSWER_BYTES): Promise<HttpAnswer> {
  let proxy: URL | undefined;
  try {
    proxy = proxyFor(url);
  } catch (error) {
    // Said by the caller's message (throughProxy), which names the endpoint too.
    if (error instanceof ProxySettingError) return { kind: "unreachable", code: "InvalidProxySetting" };
    throw error;
  }
  // Node's own fetch takes no proxy; undici's (the library Node's is built from) does, with its ProxyAgent. One agent
  // per request, destroyed when the request ends: an abort does not end a CONNECT the proxy never answers, and that
  // socket would keep the process alive after the command has said all it had to say. undici is loaded only when a
  // proxy is in use: it takes longer to load than the rest of a command's start.
  const undici = proxy ? await import("undici") : undefined;
  const dispatcher = proxy ? new undici!.ProxyAgent(proxy.href) : undefined;
  const outcome = await withDeadline(timeoutMs, async (signal) => {
    // Never followed: a redirect would carry the form's secrets or the token header to wherever it points.
    const request = { ...init, redirect: "manual", signal } as const;
    const response = dispatcher
      ? ((await undici!.fetch(url, { ...(request as UndiciRequestInit), dispatcher })) as unknown as Response)
      : await fetch(url, request);
    const chunks: Uint8Array[] = [];
    let size = 0;
    if (response.body) {
      const reader = response.body.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        size += value.byteLength;
        if (size > maxBytes) {
          await reader.cancel().catch(() => undefined);
          throw new TooLarge(response.status);
        }
        chunks.push(value);
      }
    }
    return {
      status: response.status,
      contentType: response.headers.get("content-type") ?? "",
      requestId: response.headers.get("x-amzn-requestid") ?? undefined,
      text: Buffer.concat(chunks).toString("utf8"),
    };
  });
  dispatcher?.destroy().catch(() => undefined);
  switch (outcome.kind) {
    case "done":
      return { kind: "answered", ...outcome.value };
    case "timed-out":
      return { kind: "timed-out", timeoutMs };
    case "failed":
      if (outcome.error instanceof TooLarge) return { kind: "too-large", status: outcome.error.status, limitBytes: maxBytes };
      return { kind: "unreachable", code: proxiedCode(networkErrorCode(outcome.error), proxy) };
  }
}

/** Through a proxy, undici reports a tunnel the proxy refused (a 403 to CONNECT) with no code at all: name it. */
function proxiedCode(code: string, proxy: URL | undefined): string {
  return proxy && code === "network error" ? "ProxyTunnelRefused" : code;
}

/** The error's code (ECONNREFUSED, ENOTFOUND, ...), never its message: undici's may quote the URL. */
export function networkErrorCode(error: unknown): string {
  const e = error as { name?: unknown; code?: unknown; cause?: { code?: unknown; name?: unknown } } | undefined;
  const word = (v: unknown) => (typeof v === "string" && /^[A-Za-z][\w.-]{0,63}$/.test(v) ? v : undefined);
  // "fetch failed" is a TypeError whose cause says more; a bare Error or TypeError says nothing worth showing.
  const generic = (v: unknown) => v === "Error" || v === "TypeError";
  const name = generic(e?.name) ? (generic(e?.cause?.name) ? undefined : word(e?.cause?.name)) : word(e?.name);
  return word(e?.cause?.code) ?? word(e?.code) ?? name ?? "network error";
}

/** The JSON in a body, or undefined when it is not JSON. */
export function parseJson(text: string): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    return { ok: false };
  }
}

/** "300 ms", "10 s": how long we waited, for the timed-out messages. */
export function describeTimeout(timeoutMs: number): string {
  return timeoutMs < 1000 || timeoutMs % 1000 !== 0 ? `${timeoutMs} ms` : `${timeoutMs / 1000} s`;
}

/** "a body (text/html)": the media type only, and only when it is a plain token pair. */
export function describeContentType(contentType: string): string {
  const type = contentType.split(";")[0].trim().toLowerCase();
  return /^[a-z0-9.+-]{1,40}\/[a-z0-9.+-]{1,60}$/.test(type) ? `a body (${type})` : "a body";
}

// ---- Proxies

/**
 * Corporate networks reach the internet through a proxy named in HTTPS_PROXY / HTTP_PROXY (either case), with
 * NO_PROXY listing the hosts reached directly: the convention curl, the AWS CLI and the Pulumi CLI follow. Read from
 * the process's environment, like those tools (the SDK clients' agent reads it per request). fetch goes through
 * undici's ProxyAgent, the AWS SDK clients through proxy-agent's; both tunnel https with CONNECT, so the proxy sees
 * host names, never the requests' secrets.
 */

export class ProxySettingError extends Error {}

/** The proxy a request to `url` goes through (proxy-from-env's rule, which proxy-agent applies too), or undefined. */
export function proxyFor(url: string | URL): URL | undefined {
  const proxy = getProxyForUrl(String(url));
  if (!proxy) return undefined;
  let parsed: URL;
  try {
    parsed = new URL(proxy);
  } catch {
    // Not echoed: it may hold a password.
    throw new ProxySettingError("HTTPS_PROXY / HTTP_PROXY is not a URL (expected e.g. http://proxy.example.com:3128)");
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    throw new ProxySettingError(`the proxy ${showUrl(parsed)} is not an http:// or https:// proxy, the kinds this kit supports`);
  }
  return parsed;
}

/** " through the proxy http://proxy:3128/" for a message about a request to `url`, or "" when it goes direct. */
export function throughProxy(url: string | URL): string {
  try {
    const proxy = proxyFor(url);
    return proxy ? ` through the proxy ${showUrl(proxy)}` : "";
  } catch (error) {
    return error instanceof ProxySettingError ? ` (${error.message})` : "";
  }
}

/** Whether any proxy variable is set: only then do the AWS SDK clients get the proxy agent. */
export function proxyConfigured(env: NodeJS.ProcessEnv = process.env): boolean {
  return ["HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY"].some((name) => Boolean(env[name] || env[name.toLowerCase()]));
}

/**
 * The agents for an AWS SDK client's requestHandler: proxy-agent's, which picks the proxy for each request's URL
 * (or none, for a NO_PROXY host); nothing when no proxy is configured, so the SDK keeps its own agents.
 */
export function awsProxyAgents(): { httpAgent?: NodeProxyAgent; httpsAgent?: NodeProxyAgent } {
  if (!proxyConfigured()) return {};
  // Loaded only when a proxy is configured, like undici above.
  const { ProxyAgent } = createRequire(__filename)("proxy-agent") as { ProxyAgent: typeof NodeProxyAgent };
  const agent = new ProxyAgent();
  return { httpAgent: agent, httpsAgent: agent };
}

// ---- Retries

/**
 * Waiting out IAM's eventual consistency. Right after `pulumi up` a new access key, user, role or policy can
 * take several seconds (AWS says "usually less than a minute") to reach STS everywhere, so a first call may
 * be refused with InvalidClientTokenId or AccessDenied although the stack is right.
 */

export interface RetrySettings {
  /** Total time to spend waiting between attempts before giving up. */
  budgetMs: number;
  /** The first wait; each further wait doubles, up to maxDelayMs. */
  baseDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetrySettings = { budgetMs: 60_000, baseDelayMs: 1_000, maxDelayMs: 10_000 };

/** The waits, in order, that fit in the budget: 1 s, 2 s, 4 s, 8 s, 10 s, 10 s, ... (the last cut to fit). */
export function backoffSchedule({ budgetMs, baseDelayMs, maxDelayMs }: RetrySettings): number[] {
  const waits: number[] = [];
  let spent = 0;
  let next = Math.max(1, baseDelayMs);
  while (spent < budgetMs) {
    const wait = Math.min(next, maxDelayMs, budgetMs - spent);
    waits.push(wait);
    spent += wait;
    next *= 2;
  }
  return waits;
}

export interface RetryHooks<E> {
  /** Whether a failure may be IAM propagation (worth waiting for) rather than a lasting fault. */
  isTransient(error: E): boolean;
  /** Told before each wait: to print that we are waiting, and why. */
  onWait(error: E, attempt: number, waitMs: number): void;
  sleep(ms: number): Promise<void>;
}

export type Attempt<T, E> = { ok: true; value: T } | { ok: false; error: E };

/** Runs `attempt` until it succeeds, fails lastingly, or the schedule runs out; returns the last outcome
 * and how long it waited in total. */
export async function retryWhilePropagating<T, E>(
  attempt: () => Promise<Attempt<T, E>>,
  settings: RetrySettings,
  hooks: RetryHooks<E>,
): Promise<Attempt<T, E> & { waitedMs: number }> {
  const schedule = backoffSchedule(settings);
  let waitedMs = 0;
  for (let i = 0; ; i++) {
    const outcome = await attempt();
    if (outcome.ok || !hooks.isTransient(outcome.error) || i >= schedule.length) return { ...outcome, waitedMs };
    hooks.onWait(outcome.error, i + 1, schedule[i]);
    await hooks.sleep(schedule[i]);
    waitedMs += schedule[i];
  }
}

/** "20 ms", "1.5 s", "60 s": for the waiting messages. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${ms} ms`;
  return `${Number.isInteger(ms / 1000) ? ms / 1000 : (ms / 1000).toFixed(1)} s`;
}

export const realSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

// ---- Concurrency

/** Runs `work` over `items` with at most `limit` in flight at once; results in the items' order. */
export async function mapWithConcurrency<T, R>(items: readonly T[], limit: number, work: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index]!, index);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, lane));
  return results;
}

// ---- Endpoints

/**
 * Where the verify command sends its requests and how patient it is, read from the environment once.
 * The endpoint variables exist so tests (and sandboxes) can point each service at a fake.
 */

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

/** Every variable the command reads, for the usage text and docs/verify.md. */
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

function endpointUrl(env: NodeJS.ProcessEnv, name: string): string | undefined {
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

// ---- AWS SDK clients

/**
 * AWS SDK client settings for the operator's own credentials, chosen the way `pulumi up` chooses them for the
 * stack: its `aws:profile` and `aws:region` when set, else the usual AWS_* environment (AWS_PROFILE, keys,
 * SSO, instance roles). The environment is the one handed to the command, not only process.env (which the SDK's
 * own chain reads): keys and AWS_ENDPOINT_URL_<SERVICE> in it are honoured explicitly.
 */

export const DEFAULT_AWS_TIMEOUT_MS = 10_000;

type StaticCredentials = { accessKeyId: string; secretAccessKey: string; sessionToken?: string };

export interface AwsClientSettings {
  region: string;
  profile?: string;
  credentials?: StaticCredentials | (() => Promise<StaticCredentials>);
  /** Quiet: the SDK's only use of it here is its multiple-credential-sources warning (see awsClientConfig). */
  logger?: { debug(...a: unknown[]): void; info(...a: unknown[]): void; warn(...a: unknown[]): void; error(...a: unknown[]): void };
  endpoint?: string;
  requestHandler: { connectionTimeout: number; requestTimeout: number; throwOnRequestTimeout: true } & ReturnType<typeof awsProxyAgents>;
  maxAttempts: number;
}

/**
 * The endpoint an AWS SDK client is pointed at by AWS_ENDPOINT_URL_<SERVICE> (or AWS_ENDPOINT_URL), under the same
 * rule as every other endpoint variable: https://, or plain http:// only to loopback (an SQS message carries the new
 * LWA secret, an IAM answer a new secret access key). Throws SettingsError naming the variable.
 */
export function awsEndpoint(env: NodeJS.ProcessEnv, service: "IAM" | "SQS"): string | undefined {
  const specific = `AWS_ENDPOINT_URL_${service}`;
  return env[specific]?.trim() ? endpointUrl(env, specific) : endpointUrl(env, "AWS_ENDPOINT_URL");
}

/**
 * `region` wins when given (an SQS queue lives in the region its URL names; IAM signs in its partition's home
 * region); else the stack's aws:region, the environment's, and us-east-1. Each request is bounded: the SDK's
 * requestTimeout only logs a warning unless throwOnRequestTimeout is set.
 */
export function awsClientConfig(view: StackConfigView, env: NodeJS.ProcessEnv, opts: { service: "IAM" | "SQS"; region?: string }): AwsClientSettings {
  const timeout = Number(env.SP_API_AWS_TIMEOUT_MS) > 0 ? Number(env.SP_API_AWS_TIMEOUT_MS) : DEFAULT_AWS_TIMEOUT_MS;
  const profile = view.provider.profile;
  // With an aws:profile the profile decides, as for the provider; else keys in the environment come first, as in
  // the SDK's own chain.
  const credentials =
    !profile && env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY
      ? {
          accessKeyId: env.AWS_ACCESS_KEY_ID,
          secretAccessKey: env.AWS_SECRET_ACCESS_KEY,
          ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}),
        }
      : undefined;
  const endpoint = awsEndpoint(env, opts.service);
  // A profile no AWS config file holds: the SDK would end in "Could not load credentials from any providers",
  // without the profile's name. Said at the first request instead, naming it (the commands print the reason).
  const missing = profile ? awsProfileProblem(profile, env) : undefined;
  const failing = missing
    ? async (): Promise<StaticCredentials> => {
        throw Object.assign(new Error(missing), { name: "CredentialsProviderError" });
      }
    : undefined;
  return {
    region: opts.region ?? view.provider.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? "us-east-1",
    ...(profile && !failing ? { profile } : {}),
    ...(credentials ? { credentials } : failing ? { credentials: failing } : {}),
    // With aws:profile and AWS_* keys both set (docs/fleet.md, a scheduler), the profile decides, as documented; the
    // SDK's nine-line "Multiple credential sources detected" warning, printed per stack, would only repeat that.
    ...(profile ? { logger: QUIET_LOGGER } : {}),
    ...(endpoint ? { endpoint } : {}),
    requestHandler: { connectionTimeout: timeout, requestTimeout: timeout, throwOnRequestTimeout: true, ...awsProxyAgents() },
    maxAttempts: 3,
  };
}

const QUIET_LOGGER = { debug() {}, info() {}, warn() {}, error() {} };

/** A profile's section in an AWS config file: `[profile name]` (config) or `[name]` (either file). */
function holdsProfile(file: string, profile: string, configFile: boolean): boolean {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch {
    return false;
  }
  for (const line of text.split(/\r?\n/)) {
    const m = /^\s*\[\s*(?:(profile)\s+)?([^\]]+?)\s*\]/.exec(line);
    if (!m) continue;
    // Lenient on the form (`[name]` in the config file too): a profile wrongly called missing would stop a run.
    if (m[2] === profile && (m[1] === undefined || configFile)) return true;
  }
  return false;
}

/**
 * Why the AWS profile `profile` (a stack's aws:profile) cannot be used: no AWS config file defines it; undefined
 * when one does. The files are the SDK's: AWS_CONFIG_FILE (~/.aws/config) and AWS_SHARED_CREDENTIALS_FILE
 * (~/.aws/credentials).
 */
export function awsProfileProblem(profile: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const home = env.HOME || os.homedir();
  const config = env.AWS_CONFIG_FILE || path.join(home, ".aws", "config");
  const credentials = env.AWS_SHARED_CREDENTIALS_FILE || path.join(home, ".aws", "credentials");
  if (holdsProfile(config, profile, true) || holdsProfile(credentials, profile, false)) return undefined;
  return `the AWS profile "${profile}" (aws:profile) is in neither ${config} nor ${credentials}: add it (aws configure --profile ${profile}), or set the stack's aws:profile to one that exists (npm run pulumi -- config set aws:profile <profile>)`;
}

/** IAM is global; its requests are signed in the partition's home region whatever aws:region says. */
export function iamSigningRegion(region: string | undefined): string {
  if (region?.startsWith("cn-")) return "cn-north-1";
  if (region?.startsWith("us-gov-")) return "us-gov-west-1";
  return "us-east-1";
}
