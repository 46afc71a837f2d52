/**
 * The connector product's REST API, as far as delivery needs it: list its jobs, read one, change one. The shapes
 * come from the vendor's own Python SDK (zuarbase/python-mitto-sdk), not from a published specification:
 * - the API key travels as the `API_KEY` query parameter (full admin rights): it is added to a URL only when the
 *   request is sent, and no URL this module prints or puts in a message holds it;
 * - `POST <root>/v2/jobs/search?offset=&limit=` lists jobs: `{jobs, pagination: {more_pages, offset}}`;
 * - `GET <root>/v2/jobs/{id}` reads a job, whose `conf` is an HJSON string;
 * - `PATCH <root>/v2/jobs/{id}` changes one (body: the job as read, `conf` as an object: the SDK's credentials example).
 * `<root>` is `<base URL>/api`, except on port 7127 (an installation reached from inside its container), where the
 * SDK uses no `/api` prefix and needs no key.
 * Every request is bounded (lib/net.ts: deadline, retries with backoff on 429, 5xx and network errors, the proxy
 * HTTPS_PROXY / NO_PROXY name); a 401 or 403 is one RunnerFailure of kind "refused".
 */
import {
  describeContentType,
  describeTimeout,
  fetchWithDeadline,
  HttpAnswer,
  isLoopback,
  parseJson,
  proxyFor,
  ProxySettingError,
  realSleep,
  retryWhilePropagating,
  RetrySettings,
  showUrl,
  throughProxy,
} from "./net";
import type { PulumiStack } from "./pulumi";

export const RUNNER_PREFIX = "runner:";
/** The port the SDK reaches the API on from inside the product's container: no `/api` prefix, no key. */
export const IN_CONTAINER_PORT = "7127";
export const RUNNER_API_KEY_ENV = "RUNNER_API_KEY";
export const RUNNER_API_KEY_CONFIG = "runnerApiKey";

export const DEFAULT_RUNNER_TIMEOUT_MS = 15_000;
export const DEFAULT_RUNNER_RETRY: RetrySettings = { budgetMs: 30_000, baseDelayMs: 1_000, maxDelayMs: 8_000 };
/** Jobs read (or changed) at once: the product serves its web UI from the same process. */
export const RUNNER_CONCURRENCY = 4;
/** Jobs a page of the search asks for. */
export const RUNNER_PAGE_SIZE = 50;
/** A job list longer than this is not a product's: the listing stops there (a server that always says more_pages). */
const MAX_PAGES = 1000;

/** Whether a jobConfigs entry or an --into / --check argument is a runner target rather than a file. */
export function isRunnerTarget(target: string): boolean {
  return target.startsWith(RUNNER_PREFIX);
}

export interface RunnerTarget {
  /** As it may be printed: `runner:` and the base URL (which holds no key: one that does is refused). */
  display: string;
  /** The API root requests are made under, without a trailing slash: `<base>/api`, or `<base>` on port 7127. */
  apiRoot: string;
  /** Port 7127: the SDK sends no key there. */
  inContainer: boolean;
}

/** The URL as messages may show it: `API_KEY` (whatever its case) masked, a user name or password too. */
export function maskedUrl(url: string | URL): string {
  let parsed: URL;
  try {
    parsed = new URL(String(url));
  } catch {
    return "(not a URL)";
  }
  for (const name of [...parsed.searchParams.keys()]) if (name.toLowerCase() === "api_key") parsed.searchParams.set(name, "***");
  return showUrl(parsed).replace(/%2A%2A%2A/g, "***");
}

/**
 * `runner:<base URL>`: https, or http only to loopback; no user name, password, query or fragment (an `API_KEY` in
 * the URL would be written into the stack's config and every log that names the target: the key goes in
 * runnerApiKey or RUNNER_API_KEY). Pure. The problem never quotes a query.
 */
export function parseRunnerTarget(target: string): { ok: true; target: RunnerTarget } | { ok: false; problem: string } {
  const text = target.slice(RUNNER_PREFIX.length).trim();
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return { ok: false, problem: `${RUNNER_PREFIX}: not followed by a URL (expected e.g. runner:https://connector.example.com)` };
  }
  const shown = maskedUrl(url);
  if (url.protocol !== "https:" && url.protocol !== "http:") return { ok: false, problem: `${RUNNER_PREFIX}${shown}: not an https:// URL` };
  if (url.protocol === "http:" && !isLoopback(url)) {
    return {
      ok: false,
      problem: `${RUNNER_PREFIX}${shown}: plain http:// to another machine: the API key and the secrets would cross the network unencrypted; use https:// (http:// only to 127.0.0.1, ::1 or localhost)`,
    };
  }
  if (url.username || url.password) return { ok: false, problem: `${RUNNER_PREFIX}${shown}: holds a user name or password; give the URL without them` };
  if (url.search || url.hash) {
    return {
      ok: false,
      problem: `${RUNNER_PREFIX}${url.origin}${url.pathname}: holds a query or fragment; give the base URL alone (the API key goes in runnerApiKey or ${RUNNER_API_KEY_ENV})`,
    };
  }
  const base = url.href.replace(/\/+$/, "");
  const inContainer = url.port === IN_CONTAINER_PORT;
  return { ok: true, target: { display: `${RUNNER_PREFIX}${base}`, apiRoot: inContainer ? base : `${base}/api`, inContainer } };
}

/** The key to use: the stack's secret `runnerApiKey`, else RUNNER_API_KEY; a plain-text runnerApiKey is refused. */
export type RunnerKey = { ok: true; apiKey?: string; source?: string } | { ok: false; problem: string };

/** Reads the key for a stack's runner targets. The secret is decrypted only when the stack has one. */
export async function runnerApiKeyOf(stack: Pick<PulumiStack, "readConfig">, env: NodeJS.ProcessEnv): Promise<RunnerKey> {
  const plain = await stack.readConfig({ secrets: false });
  if (plain.values[RUNNER_API_KEY_CONFIG] !== undefined && plain.values[RUNNER_API_KEY_CONFIG] !== "" && !plain.secretKeys.has(RUNNER_API_KEY_CONFIG)) {
    return {
      ok: false,
      problem:
        `${RUNNER_API_KEY_CONFIG}: stored in plain text; a secret must be encrypted. Fix: pulumi config rm ${RUNNER_API_KEY_CONFIG} && ` +
        `pulumi config set --secret ${RUNNER_API_KEY_CONFIG} (it prompts for the value), then replace the key in the product if the plain text reached git`,
    };
  }
  if (plain.secretKeys.has(RUNNER_API_KEY_CONFIG)) {
    const value = (await stack.readConfig({ secrets: true })).values[RUNNER_API_KEY_CONFIG];
    if (value) return { ok: true, apiKey: value, source: `the stack's ${RUNNER_API_KEY_CONFIG}` };
  }
  const fromEnv = env[RUNNER_API_KEY_ENV]?.trim();
  return fromEnv ? { ok: true, apiKey: fromEnv, source: RUNNER_API_KEY_ENV } : { ok: true };
}

/**
 * Why a target cannot be used with the proxy settings, if it cannot: plain http (loopback only) through a proxy
 * would hand the proxy the API key in the clear. Put the host in NO_PROXY.
 */
export function proxyProblem(target: RunnerTarget): string | undefined {
  if (!target.apiRoot.startsWith("http:")) return undefined;
  try {
    const proxy = proxyFor(target.apiRoot);
    return proxy
      ? `${target.display}: plain http:// would go through the proxy ${showUrl(proxy)}, which would see the API key; add ${new URL(target.apiRoot).hostname} to NO_PROXY`
      : undefined;
  } catch (error) {
    if (error instanceof ProxySettingError) return `${target.display}: ${error.message}`;
    throw error;
  }
}

export interface RunnerSettings {
  timeoutMs: number;
  retry: RetrySettings;
  sleep: (ms: number) => Promise<void>;
}

/** SP_API_RUNNER_TIMEOUT_MS (each request) and SP_API_RUNNER_RETRY_BUDGET_MS / _BASE_MS (waits between attempts). */
export function runnerSettings(env: NodeJS.ProcessEnv): RunnerSettings {
  const ms = (name: string, fallback: number) => (/^\d{1,9}$/.test(env[name]?.trim() ?? "") ? Number(env[name]!.trim()) : fallback);
  return {
    timeoutMs: Math.max(1, ms("SP_API_RUNNER_TIMEOUT_MS", DEFAULT_RUNNER_TIMEOUT_MS)),
    retry: {
      budgetMs: ms("SP_API_RUNNER_RETRY_BUDGET_MS", DEFAULT_RUNNER_RETRY.budgetMs),
      baseDelayMs: ms("SP_API_RUNNER_RETRY_BASE_MS", DEFAULT_RUNNER_RETRY.baseDelayMs),
      maxDelayMs: DEFAULT_RUNNER_RETRY.maxDelayMs,
    },
    sleep: realSleep,
  };
}

/** A request that did not get the answer it needed. Its message names the request (key masked), never a body. */
export class RunnerFailure extends Error {
  constructor(
    readonly kind: "refused" | "failed",
    message: string,
  ) {
    super(message);
  }
}

/** One job as the search lists it. */
export interface JobSummary {
  id: number | string;
  name?: string;
}

/** One job as read: the whole object, `conf` still the HJSON string. */
export type JobRecord = Record<string, unknown> & { id: number | string; conf?: unknown };

type Transient = { answer: HttpAnswer };

export class RunnerClient {
  constructor(
    readonly target: RunnerTarget,
    private readonly apiKey: string | undefined,
    private readonly settings: RunnerSettings,
    private readonly onWait: (line: string) => void = () => undefined,
  ) {}

  /** The URL as printed: the key never added. */
  private shown(path: string, query: Record<string, string> = {}): string {
    const url = new URL(`${this.target.apiRoot}${path}`);
    for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
    return maskedUrl(url);
  }

  private async request(method: "GET" | "POST" | "PATCH", path: string, query: Record<string, string>, body?: unknown): Promise<unknown> {
    const url = new URL(`${this.target.apiRoot}${path}`);
    for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
    if (this.apiKey !== undefined) url.searchParams.set("API_KEY", this.apiKey);
    const what = `${method} ${this.shown(path, query)}`;
    const init: RequestInit = {
      method,
      headers: { accept: "application/json", ...(body !== undefined ? { "content-type": "application/json" } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    };
    const transient = (a: HttpAnswer) => a.kind === "timed-out" || a.kind === "unreachable" || (a.kind === "answered" && (a.status === 429 || a.status >= 500));
    const outcome = await retryWhilePropagating<HttpAnswer, Transient>(
      async () => {
        const answer = await fetchWithDeadline(url, init, this.settings.timeoutMs);
        return transient(answer) ? { ok: false, error: { answer } } : { ok: true, value: answer };
      },
      this.settings.retry,
      {
        isTransient: () => true,
        onWait: (e, attempt, waitMs) =>
          this.onWait(`${what}: ${describe(e.answer, this.settings.timeoutMs)}; trying again in ${Math.round(waitMs)} ms (attempt ${attempt + 1})`),
        sleep: this.settings.sleep,
      },
    );
    const answer = outcome.ok ? outcome.value : outcome.error.answer;
    if (answer.kind === "answered" && (answer.status === 401 || answer.status === 403)) {
      throw new RunnerFailure(
        "refused",
        `${this.target.display}: the API key was refused (HTTP ${answer.status}); set a valid key: pulumi config set --secret ${RUNNER_API_KEY_CONFIG}, or ${RUNNER_API_KEY_ENV}`,
      );
    }
    if (answer.kind !== "answered" || answer.status < 200 || answer.status > 299) {
      throw new RunnerFailure("failed", `${what}: ${describe(answer, this.settings.timeoutMs)}${throughProxy(url)}`);
    }
    if (answer.text.trim() === "") return undefined;
    const parsed = parseJson(answer.text);
    if (!parsed.ok) throw new RunnerFailure("failed", `${what}: answered ${describeContentType(answer.contentType)} that is not JSON`);
    return parsed.value;
  }

  /** Every job, through all pages. */
  async listJobs(): Promise<JobSummary[]> {
    const jobs: JobSummary[] = [];
    const seen = new Set<string>();
    let offset = 0;
    for (let page = 0; page < MAX_PAGES; page++) {
      const answer = (await this.request("POST", "/v2/jobs/search", { offset: String(offset), limit: String(RUNNER_PAGE_SIZE) }, {})) as {
        jobs?: unknown;
        pagination?: { more_pages?: unknown; offset?: unknown };
      } | null;
      const what = `POST ${this.shown("/v2/jobs/search")}`;
      if (!answer || !Array.isArray(answer.jobs)) throw new RunnerFailure("failed", `${what}: the answer has no jobs list`);
      let added = 0;
      for (const job of answer.jobs as unknown[]) {
        const id = (job as { id?: unknown })?.id;
        if (typeof id !== "number" && typeof id !== "string") throw new RunnerFailure("failed", `${what}: a job without an id in the answer`);
        const name = (job as { name?: unknown }).name;
        // A job listed twice (the list shifted between two pages) is read once.
        if (seen.has(String(id))) continue;
        seen.add(String(id));
        added++;
        jobs.push({ id, ...(typeof name === "string" ? { name } : {}) });
      }
      if (answer.pagination?.more_pages !== true || answer.jobs.length === 0) return jobs;
      if (added === 0) throw new RunnerFailure("failed", `${what}: says there are more pages but repeats jobs already listed; stopped`);
      const from = typeof answer.pagination.offset === "number" ? answer.pagination.offset : offset;
      offset = from + answer.jobs.length;
    }
    throw new RunnerFailure("failed", `POST ${this.shown("/v2/jobs/search")}: more than ${MAX_PAGES} pages of jobs; stopped`);
  }

  async getJob(id: JobSummary["id"]): Promise<JobRecord> {
    const job = await this.request("GET", `/v2/jobs/${encodeURIComponent(String(id))}`, {});
    if (typeof job !== "object" || job === null || Array.isArray(job))
      throw new RunnerFailure("failed", `GET ${this.shown(`/v2/jobs/${id}`)}: the answer is not a job`);
    return job as JobRecord;
  }

  async patchJob(id: JobSummary["id"], body: unknown): Promise<void> {
    await this.request("PATCH", `/v2/jobs/${encodeURIComponent(String(id))}`, {}, body);
  }
}

function describe(answer: HttpAnswer, timeoutMs: number): string {
  switch (answer.kind) {
    case "answered":
      return `HTTP ${answer.status}`;
    case "too-large":
      return `HTTP ${answer.status} with an answer larger than ${answer.limitBytes} bytes`;
    case "timed-out":
      return `no complete answer within ${describeTimeout(timeoutMs)}`;
    case "unreachable":
      return `unreachable (${answer.code})`;
  }
}
