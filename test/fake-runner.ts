/**
 * A loopback fake of the connector product's REST API, built from the shapes the vendor's Python SDK
 * (zuarbase/python-mitto-sdk) shows, for the `runner:<url>` delivery tests:
 * - every request must carry the API key as the `API_KEY` query parameter (401 otherwise);
 * - `POST /api/v2/jobs/search?offset=&limit=` lists jobs at most 2 a page: `{jobs, pagination: {more_pages, offset}}`;
 * - `GET /api/v2/jobs/{id}` answers the job, its `conf` an HJSON string (with comments, as people write them);
 * - `PATCH /api/v2/jobs/{id}` takes the job with `conf` as an object (or a string), and keeps it, unless
 *   `dropPatches` is set: then it answers 200 and keeps nothing.
 * It records each request (method, path, query without the key) and can misbehave on one kind of request
 * (test/fake-amazon.ts's stall, trickle, garbage).
 */
import * as http from "node:http";
import * as Hjson from "hjson";
import { LoopbackServer } from "./loopback";
import { misbehave, type Misbehaviour } from "./fake-amazon";

export interface FakeJob {
  id: number;
  name: string;
  title: string;
  type: string;
  /** As the product keeps it: an HJSON string. */
  conf: string;
}

export interface RunnerRequest {
  method: string;
  path: string;
  /** The query without API_KEY. */
  query: Record<string, string>;
  /** Whether API_KEY was the right key. */
  keyOk: boolean;
  /** The whole URL as it arrived (to check the key travelled only as API_KEY). */
  rawUrl: string;
  body?: unknown;
}

export const PAGE_SIZE = 2;

export class FakeRunner extends LoopbackServer {
  jobs: FakeJob[] = [];
  requests: RunnerRequest[] = [];
  /** PATCHes are answered 200 and not kept. */
  dropPatches = false;
  /** Misbehave on every request of this kind. */
  misbehaviour?: { on: "search" | "get" | "patch"; kind: Misbehaviour };
  /** The search ignores `offset` (always the first page) while saying there are more pages. */
  ignoreOffset = false;
  /** Answer this status (once each) to the next requests, before answering normally: 429, 503... */
  failNext: number[] = [];

  constructor(readonly apiKey: string) {
    super();
  }

  patches(): RunnerRequest[] {
    return this.requests.filter((r) => r.method === "PATCH");
  }

  job(id: number): FakeJob {
    return this.jobs.find((j) => j.id === id)!;
  }

  /** A job's conf, parsed. */
  conf(id: number): Record<string, unknown> {
    return Hjson.parse(this.job(id).conf) as Record<string, unknown>;
  }

  protected handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    let raw = "";
    req.on("data", (chunk: Buffer) => (raw += chunk.toString("utf8")));
    req.on("end", () => this.answer(req, res, raw));
  }

  private answer(req: http.IncomingMessage, res: http.ServerResponse, raw: string): void {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    const query: Record<string, string> = {};
    for (const [k, v] of url.searchParams) if (k !== "API_KEY") query[k] = v;
    let body: unknown;
    try {
      body = raw ? JSON.parse(raw) : undefined;
    } catch {
      body = raw;
    }
    const keyOk = url.searchParams.get("API_KEY") === this.apiKey;
    this.requests.push({ method: req.method ?? "", path: url.pathname, query, keyOk, rawUrl: req.url ?? "", ...(body !== undefined ? { body } : {}) });
    const json = (status: number, value: unknown) => {
      const text = JSON.stringify(value);
      res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) }).end(text);
    };
    if (!keyOk) return json(401, { detail: "Not authenticated" });
    const status = this.failNext.shift();
    if (status !== undefined) return json(status, { detail: "injected by the test" });
    const kind = req.method === "POST" && url.pathname === "/api/v2/jobs/search" ? "search" : req.method === "PATCH" ? "patch" : "get";
    if (this.misbehaviour?.on === kind) return misbehave(this.misbehaviour.kind, res, { trickleIntervalMs: 200 });

    if (kind === "search") {
      const offset = this.ignoreOffset ? 0 : Number(query.offset ?? 0);
      const limit = Math.min(Number(query.limit ?? 50), PAGE_SIZE);
      const page = this.jobs.slice(offset, offset + limit);
      return json(200, {
        jobs: page.map(({ id, name, title, type }) => ({ id, name, title, type })),
        pagination: { more_pages: offset + limit < this.jobs.length, offset, limit },
      });
    }
    const match = /^\/api\/v2\/jobs\/(\d+)$/.exec(url.pathname);
    const job = match ? this.jobs.find((j) => j.id === Number(match[1])) : undefined;
    if (!job) return json(404, { detail: "Not Found" });
    if (req.method === "GET") return json(200, job);
    if (req.method === "PATCH") {
      const sent = body as Partial<FakeJob> & { conf?: unknown };
      if (!this.dropPatches && sent && sent.conf !== undefined) {
        job.conf = typeof sent.conf === "string" ? sent.conf : Hjson.stringify(sent.conf, { bracesSameLine: true });
      }
      return json(200, job);
    }
    return json(405, { detail: "Method Not Allowed" });
  }
}

export const RUNNER_KEY = "mitto-api-key-0123456789abcdef";

/** The credentials block of a job, as HJSON lines (quoted values: secrets may hold anything). */
function credentialsHjson(values: Record<string, string>, indent: string): string {
  return Object.entries(values)
    .map(([k, v]) => `${indent}${k}: ${JSON.stringify(v)}`)
    .join("\n");
}

/**
 * The jobs every test starts with: the stack's NA and EU jobs (its block, but the old LWA secret), a job naming a
 * stored credential, another app's job, a job that is no SP-API job at all.
 */
export function seedJobs(ours: Record<string, string>, theirs: Record<string, string>): FakeJob[] {
  const spApi = (id: number, name: string, endpoint: string, credentials: string) => ({
    id,
    name,
    title: name,
    type: "io",
    conf: [
      "{",
      "  # Orders, pulled every hour (edited in the web UI)",
      "  input: {",
      '    use: "amazon_selling_partner_api.io#AmazonSPApiInput"',
      `    endpoint: ${endpoint}`,
      "    path: /orders/v0/orders",
      credentials,
      "  }",
      "  // where they land",
      "  output: {",
      '    use: "call:mitto.iov2.db#todb"',
      "    dbo: postgresql://db/analytics",
      `    tablename: ${name.replace(/\W/g, "_")}`,
      "  }",
      "}",
    ].join("\n"),
  });
  const object = (values: Record<string, string>) => `    credentials: {\n${credentialsHjson(values, "      ")}\n    }`;
  return [
    spApi(1, "amazon-orders-na", "https://sellingpartnerapi-na.amazon.com", object(ours)),
    spApi(2, "amazon-orders-eu", "https://sellingpartnerapi-eu.amazon.com", object(ours)),
    spApi(3, "amazon-orders-named", "https://sellingpartnerapi-na.amazon.com", '    credentials: "acme-sp-api"'),
    spApi(4, "globex-orders", "https://sellingpartnerapi-na.amazon.com", object(theirs)),
    {
      id: 5,
      name: "warehouse-sql",
      title: "warehouse-sql",
      type: "sql",
      conf: ["{", "  # not an SP-API job", "  dbo: postgresql://db/analytics", '  sql: "select 1"', "}"].join("\n"),
    },
  ];
}
