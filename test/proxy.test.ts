/**
 * Outbound requests honour HTTPS_PROXY / HTTP_PROXY / NO_PROXY (either case): fetch (LWA, SP-API, the rotation call)
 * through undici's ProxyAgent, the AWS SDK clients (STS, IAM, SQS) through proxy-agent. The proxy is a loopback one
 * written here: it tunnels CONNECT requests and forwards absolute-URI ones, and, as the fakes speak plain http, it
 * can read the request line of every request that passed through it: so a test sees which service went through the
 * proxy, not only that something did. Nothing leaves 127.0.0.1.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import * as https from "node:https";
import * as net from "node:net";
import type { AddressInfo } from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { IAMClient, ListAccessKeysCommand } from "@aws-sdk/client-iam";
import { GetQueueAttributesCommand, SQSClient } from "@aws-sdk/client-sqs";
import { renderCredentials } from "../src/credentials";
import { awsClientConfig, fetchWithDeadline, proxyFor } from "../lib/net";
import { grantlessToken } from "../commands/rotate-lwa/amazon";
import { judgeGrantlessToken } from "../commands/rotate-lwa/decide";
import { FakeAmazon, REGION, ROLE_ARN, SECRETS } from "./fake-amazon";

const REPO = path.resolve(__dirname, "..");
const PROXY_PASSWORD = "proxy-pass-must-not-show";

type ProxyMode = "forward" | "refuse" | "stall";

/** A forward proxy on 127.0.0.1: "forward" tunnels and forwards, "refuse" answers 403, "stall" never answers. */
class LoopbackProxy {
  /** host:port of every CONNECT tunnel asked for. */
  readonly tunnels: string[] = [];
  /** "METHOD /path" of every request that went through, tunnelled or forwarded. */
  readonly requests: string[] = [];
  /** The Proxy-Authorization headers received. */
  readonly authorizations: string[] = [];
  private readonly server: http.Server;
  private readonly sockets = new Set<net.Socket>();

  constructor(private readonly mode: ProxyMode) {
    this.server = http.createServer((req, res) => this.forward(req, res));
    this.server.on("connect", (req: http.IncomingMessage, client: net.Socket, head: Buffer) => this.tunnel(req, client, head));
    this.server.on("connection", (socket: net.Socket) => {
      this.sockets.add(socket);
      socket.on("close", () => this.sockets.delete(socket));
    });
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
  }

  url(credentials = ""): string {
    return `http://${credentials}127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private note(req: http.IncomingMessage): void {
    if (req.headers["proxy-authorization"]) this.authorizations.push(req.headers["proxy-authorization"]);
  }

  private sniff(data: Buffer): void {
    for (const match of data.toString("latin1").matchAll(/^(GET|POST|PUT|DELETE) (\S+) HTTP\/1\.1\r$/gm)) this.requests.push(`${match[1]} ${match[2]}`);
  }

  private tunnel(req: http.IncomingMessage, client: net.Socket, head: Buffer): void {
    this.note(req);
    this.tunnels.push(req.url ?? "");
    client.on("error", () => undefined);
    if (this.mode === "stall") return;
    if (this.mode === "refuse") {
      client.end("HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n");
      return;
    }
    const [host, port] = (req.url ?? "").split(":");
    const upstream = net.connect(Number(port), host!, () => {
      client.write("HTTP/1.1 200 Connection Established\r\n\r\n");
      if (head.length) {
        this.sniff(head);
        upstream.write(head);
      }
      client.on("data", (data: Buffer) => this.sniff(data));
      client.pipe(upstream);
      upstream.pipe(client);
    });
    upstream.on("error", () => client.destroy());
    client.on("close", () => upstream.destroy());
  }

  private forward(req: http.IncomingMessage, res: http.ServerResponse): void {
    this.note(req);
    if (this.mode === "stall") return;
    if (this.mode === "refuse") {
      res.writeHead(403).end();
      return;
    }
    const target = new URL(req.url ?? "");
    this.requests.push(`${req.method} ${target.pathname}`);
    const headers = { ...req.headers };
    delete headers["proxy-authorization"];
    const upstream = http.request(target, { method: req.method, headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.on("error", () => res.destroy());
    req.pipe(upstream);
  }
}

/** The proxy variables of the caller's shell, taken out so that only the test's own apply. */
function withoutProxyVariables(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const clean = { ...env };
  for (const name of ["HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "NO_PROXY"]) {
    delete clean[name];
    delete clean[name.toLowerCase()];
  }
  return clean;
}

/** Runs `work` with process.env's proxy variables set to `vars` only, then puts the caller's back. */
async function withProcessProxyEnv<T>(vars: Record<string, string>, work: () => Promise<T>): Promise<T> {
  const saved = { ...process.env };
  for (const name of Object.keys(process.env)) if (/^(https?|all|no)_proxy$/i.test(name)) delete process.env[name];
  Object.assign(process.env, vars);
  try {
    return await work();
  } finally {
    for (const name of Object.keys(process.env)) if (!(name in saved)) delete process.env[name];
    Object.assign(process.env, saved);
  }
}

describe("proxies (HTTPS_PROXY, HTTP_PROXY, NO_PROXY)", function () {
  const fake = new FakeAmazon();
  before(() => fake.start());
  after(() => fake.stop());
  beforeEach(() => fake.reset());

  const block = renderCredentials(
    {
      region: REGION,
      role_arn: ROLE_ARN,
      aws_access_key_id: SECRETS.keyId,
      aws_secret_access_key: SECRETS.keySecret,
      client_id: SECRETS.clientId,
      client_secret: SECRETS.clientSecret,
      refresh_token: SECRETS.refreshToken,
    },
    "na",
  );

  /** npm run verify's CLI in a process of its own (the proxy variables are the process's), the block on stdin. */
  function verify(proxyVars: Record<string, string>, extra: Record<string, string> = {}): Promise<{ code: number | null; output: string }> {
    const env = { ...withoutProxyVariables(process.env), ...fake.env({ SP_API_VERIFY_RETRY_BUDGET_MS: "0", ...extra }), ...proxyVars };
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, ["-r", "./tools/register.js", "commands/verify/cli.ts"], { cwd: REPO, env });
      let output = "";
      child.stdout.on("data", (d) => (output += d));
      child.stderr.on("data", (d) => (output += d));
      child.on("error", reject);
      child.on("close", (code) => resolve({ code, output }));
      child.stdin.end(block);
    });
  }

  async function withProxy<T>(mode: ProxyMode, work: (proxy: LoopbackProxy) => Promise<T>): Promise<T> {
    const proxy = new LoopbackProxy(mode);
    await proxy.start();
    try {
      return await work(proxy);
    } finally {
      await proxy.stop();
    }
  }

  const VERIFY_REQUESTS = ["POST /sts", "POST /lwa/auth/o2/token", "GET /sp-api/sellers/v1/marketplaceParticipations"];

  for (const name of ["HTTP_PROXY", "http_proxy"]) {
    it(`verify with ${name} set: STS (AWS SDK), LWA and SP-API (fetch) all go through the proxy, and it passes`, () =>
      withProxy("forward", async (proxy) => {
        const result = await verify({ [name]: proxy.url(`user:${PROXY_PASSWORD}@`) });
        assert.equal(result.code, 0, result.output);
        for (const request of VERIFY_REQUESTS) {
          assert.ok(
            proxy.requests.some((seen) => seen.startsWith(request)),
            `${request} did not go through the proxy; it saw: ${proxy.requests.join(", ")}`,
          );
        }
        assert.ok(proxy.authorizations.length > 0, "the proxy's credentials were sent to it");
        assert.ok(proxy.authorizations.every((a) => a === `Basic ${Buffer.from(`user:${PROXY_PASSWORD}`).toString("base64")}`));
        assert.ok(!result.output.includes(PROXY_PASSWORD));
      }));
  }

  it("NO_PROXY=127.0.0.1: verify goes direct, the proxy sees nothing", () =>
    withProxy("forward", async (proxy) => {
      const result = await verify({ HTTP_PROXY: proxy.url(), HTTPS_PROXY: proxy.url(), NO_PROXY: "127.0.0.1" });
      assert.equal(result.code, 0, result.output);
      assert.deepEqual(proxy.requests, []);
      assert.deepEqual(proxy.tunnels, []);
      assert.equal(fake.requests("sp-api").length, 1, "verify reached the fake itself");
    }));

  it("a proxy that is not there: the failure names the proxy, its password masked", async () => {
    const proxy = new LoopbackProxy("forward");
    await proxy.start();
    const gone = proxy.url(`user:${PROXY_PASSWORD}@`);
    await proxy.stop();
    const result = await verify({ HTTP_PROXY: gone });
    assert.notEqual(result.code, 0);
    const shown = gone.replace(`user:${PROXY_PASSWORD}@`, "***:***@");
    assert.match(
      result.output,
      new RegExp(`could not reach STS at \\S+ through the proxy ${shown.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}/ \\(ECONNREFUSED\\)`),
    );
    assert.ok(!result.output.includes(PROXY_PASSWORD), result.output);
    assert.equal(fake.seen.length, 0, "nothing reached the fake around the proxy");
  });

  it("a proxy that refuses to tunnel (403 to CONNECT): fetch reports the service unreachable, and nothing reaches it", () =>
    withProxy("refuse", async (proxy) =>
      withProcessProxyEnv({ HTTP_PROXY: proxy.url() }, async () => {
        const answer = await fetchWithDeadline(`${fake.url}/lwa/auth/o2/token`, { method: "POST", body: "x=1" }, 5000);
        assert.deepEqual(answer, { kind: "unreachable", code: "ProxyTunnelRefused" });
        assert.deepEqual(proxy.tunnels, [new URL(fake.url).host], "undici asked the proxy for a tunnel to the service");
        assert.equal(fake.seen.length, 0);
      }),
    ));

  it("rotate-lwa's LWA request through a proxy that refuses to tunnel: the failure names the proxy, its password masked, and nothing was rotated", () =>
    withProxy("refuse", async (proxy) =>
      withProcessProxyEnv({ HTTP_PROXY: proxy.url(`user:${PROXY_PASSWORD}@`) }, async () => {
        const lwa = `${fake.url}/lwa`;
        const failure = judgeGrantlessToken(await grantlessToken(lwa, SECRETS.clientId, SECRETS.clientSecret, 5000), lwa);
        const shown = proxy.url("***:***@");
        assert.equal(failure?.cause, `could not reach LWA at ${lwa} through the proxy ${shown}/ (ProxyTunnelRefused).`);
        assert.match(failure!.fix, /Nothing was rotated/);
        assert.ok(!JSON.stringify(failure).includes(PROXY_PASSWORD));
        assert.equal(fake.seen.length, 0);
      }),
    ));

  it("the deadline holds through a proxy that never answers: verify times out, naming the proxy", () =>
    withProxy("stall", async (proxy) => {
      const result = await verify({ HTTP_PROXY: proxy.url() }, { SP_API_VERIFY_TIMEOUT_MS: "2000" });
      assert.notEqual(result.code, 0);
      assert.match(result.output, new RegExp(`STS at \\S+ through the proxy ${proxy.url().replace(/\./g, "\\.")}/ timed out`));
    }));

  it("the IAM and SQS clients (rotate-key, rotate-lwa) go through the proxy too, and NO_PROXY exempts them", () =>
    withProxy("forward", async (proxy) => {
      const view = { provider: {} } as Parameters<typeof awsClientConfig>[0];
      const env = {
        AWS_ENDPOINT_URL_IAM: `${fake.url}/iam`,
        AWS_ENDPOINT_URL_SQS: `${fake.url}/sqs`,
        AWS_ACCESS_KEY_ID: "AKIAIOSFODNN7EXAMPLE",
        AWS_SECRET_ACCESS_KEY: "x".repeat(40),
      };
      const call = async () => {
        // The fake answers neither service: what matters is which way the request went.
        await new IAMClient({ ...awsClientConfig(view, env, { service: "IAM" }), maxAttempts: 1 }).send(new ListAccessKeysCommand({})).catch(() => undefined);
        await new SQSClient({ ...awsClientConfig(view, env, { service: "SQS" }), maxAttempts: 1 })
          .send(new GetQueueAttributesCommand({ QueueUrl: `${fake.url}/sqs/123456789012/q` }))
          .catch(() => undefined);
      };
      await withProcessProxyEnv({ http_proxy: proxy.url() }, call);
      assert.ok(
        proxy.requests.some((r) => r.startsWith("POST /iam")),
        `IAM: ${proxy.requests.join(", ")}`,
      );
      assert.ok(
        proxy.requests.some((r) => r.startsWith("POST /sqs")),
        `SQS: ${proxy.requests.join(", ")}`,
      );
      const before = proxy.requests.length;
      await withProcessProxyEnv({ http_proxy: proxy.url(), no_proxy: "127.0.0.1" }, call);
      assert.equal(proxy.requests.length, before, "with NO_PROXY the clients went direct");
    }));

  it("the rule: HTTPS_PROXY for https://, HTTP_PROXY for http://, NO_PROXY by host and domain suffix; no variable, no proxy", () =>
    withProcessProxyEnv(
      { HTTPS_PROXY: "http://secure-proxy:3128", HTTP_PROXY: "http://plain-proxy:3128", NO_PROXY: "internal.example,.corp.example" },
      async () => {
        assert.equal(proxyFor("https://api.amazon.com/auth/o2/token")?.host, "secure-proxy:3128");
        assert.equal(proxyFor("http://127.0.0.1:9/")?.host, "plain-proxy:3128");
        assert.equal(proxyFor("https://internal.example/x"), undefined);
        assert.equal(proxyFor("https://sts.corp.example/"), undefined);
        await withProcessProxyEnv({}, async () => assert.equal(proxyFor("https://api.amazon.com/"), undefined));
      },
    ));
});

/**
 * Amazon's endpoints are https://: through HTTPS_PROXY the request must be tunnelled (CONNECT) with TLS from the
 * command to the endpoint, so the proxy never reads it. An https server on 127.0.0.1 with a certificate made for the
 * test (openssl), trusted by the command through NODE_EXTRA_CA_CERTS, stands for the endpoint; it is reached as
 * localhost, which resolves to loopback.
 */
describe("proxies over https (HTTPS_PROXY), as to Amazon", function () {
  let dir: string;
  let server: https.Server;
  let target: string;
  const received: string[] = [];

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "proxy-tls-"));
    const made = spawnSync(
      "openssl",
      ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost"].concat([
        "-keyout",
        path.join(dir, "key.pem"),
        "-out",
        path.join(dir, "cert.pem"),
      ]),
      { encoding: "utf8" },
    );
    assert.equal(made.status, 0, `openssl made the test's certificate: ${made.error ?? made.stderr}`);
    server = https.createServer({ key: fs.readFileSync(path.join(dir, "key.pem")), cert: fs.readFileSync(path.join(dir, "cert.pem")) }, (req, res) => {
      received.push(`${req.method} ${req.url}`);
      req.resume();
      req.on("end", () => res.writeHead(200, { "content-type": "application/json" }).end("{}"));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    // By name, as Amazon's endpoints are: the SDK's proxy agent checks an IP address target's certificate against
    // "localhost" (it sends no server name for an IP).
    target = `https://localhost:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    fs.rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(() => (received.length = 0));

  /** In a process of its own (NODE_EXTRA_CA_CERTS is read at start): one fetch and one IAM call to the https target. */
  function callTarget(proxyVars: Record<string, string>): Promise<{ code: number | null; output: string }> {
    const script = `
      const { awsClientConfig, fetchWithDeadline } = require("./lib/net.ts");
      const { IAMClient, ListAccessKeysCommand } = require("@aws-sdk/client-iam");
      (async () => {
        const answer = await fetchWithDeadline(process.env.TARGET + "/lwa/auth/o2/token", { method: "POST", body: "x=1" }, 5000);
        const env = { AWS_ENDPOINT_URL_IAM: process.env.TARGET + "/iam", AWS_ACCESS_KEY_ID: "AKIAIOSFODNN7EXAMPLE", AWS_SECRET_ACCESS_KEY: "x".repeat(40) };
        const iam = new IAMClient({ ...awsClientConfig({ provider: {} }, env, { service: "IAM" }), maxAttempts: 1 });
        await iam.send(new ListAccessKeysCommand({})).catch(() => undefined);
        process.stdout.write(JSON.stringify(answer));
      })();`;
    const env = { ...withoutProxyVariables(process.env), ...proxyVars, TARGET: target, NODE_EXTRA_CA_CERTS: path.join(dir, "cert.pem") };
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, ["-r", "./tools/register.js", "-e", script], { cwd: REPO, env });
      let output = "";
      child.stdout.on("data", (d) => (output += d));
      child.stderr.on("data", (d) => (output += d));
      child.on("error", reject);
      child.on("close", (code) => resolve({ code, output }));
    });
  }

  it("fetch and the AWS SDK tunnel to an https:// endpoint through the proxy, which sees the host and nothing of the requests", async () => {
    const proxy = new LoopbackProxy("forward");
    await proxy.start();
    try {
      const result = await callTarget({ HTTPS_PROXY: proxy.url() });
      assert.equal(result.code, 0, result.output);
      assert.equal((JSON.parse(result.output) as { kind: string; status: number }).status, 200, result.output);
      assert.ok(received.includes("POST /lwa/auth/o2/token") && received.some((r) => r.startsWith("POST /iam")), `${received.join(", ")}: ${result.output}`);
      const host = new URL(target).host;
      assert.ok(proxy.tunnels.length >= 2, `both went through the proxy: ${proxy.tunnels.join(", ")}`);
      assert.ok(
        proxy.tunnels.every((t) => t === host),
        proxy.tunnels.join(", "),
      );
      assert.deepEqual(proxy.requests, [], "the proxy read no request: TLS ran from the command to the endpoint");
    } finally {
      await proxy.stop();
    }
  });

  it("HTTP_PROXY alone does not apply to https:// endpoints; NO_PROXY exempts them from HTTPS_PROXY", async () => {
    const proxy = new LoopbackProxy("forward");
    await proxy.start();
    try {
      const cases: Record<string, string>[] = [{ HTTP_PROXY: proxy.url() }, { HTTPS_PROXY: proxy.url(), NO_PROXY: "localhost,127.0.0.1" }];
      for (const vars of cases) {
        received.length = 0;
        const result = await callTarget(vars);
        assert.equal(result.code, 0, result.output);
        assert.equal(received.length >= 2, true, `${JSON.stringify(vars)}: the endpoint was reached directly: ${received.join(", ")}`);
      }
      assert.deepEqual(proxy.tunnels, []);
    } finally {
      await proxy.stop();
    }
  });
});
