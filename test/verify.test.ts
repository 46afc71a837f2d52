/**
 * `npm run verify` against a fake STS, LWA and SP-API on 127.0.0.1 (test/fake-amazon.ts), through the real
 * AWS SDK and fetch. Most cases call runVerify in-process (with a sleep that records instead of waiting, so
 * the real one-minute propagation budget is exercised in no time); two spawn the real CLI for stdin, file
 * argument, exit code and the isolation from the caller's AWS environment.
 */
import * as assert from "assert";
import { spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { Readable, type Writable } from "stream";
import { CredentialValues, ENCRYPTED_SECRET_PLACEHOLDER, PLACEHOLDERS, renderCredentials } from "../src/credentials";
import { GetCallerIdentityCommand } from "@aws-sdk/client-sts";
import { createStsClient } from "../commands/verify/aws";
import { MAX_INPUT_BYTES, parseCredentialsBlock } from "../commands/verify/block";
import { parseArgs } from "../commands/verify/cli";
import { judgeLwaAnswer } from "../commands/verify/lwa";
import { maskKeyId, Redactor } from "../lib/output";
import { backoffSchedule, DEFAULT_REQUEST_TIMEOUT_MS, DEFAULT_RETRY, ENV_VARS, fetchWithDeadline, networkErrorCode, readSettings } from "../lib/net";
import { runVerify } from "../commands/verify/run";
import { readCapped, readInput } from "../commands/verify/input";
import {
  EU_REFRESH_TOKEN,
  FakeAmazon,
  GARBAGE_BODY,
  MARKETPLACES,
  MISBEHAVIOURS,
  MisbehavingPeer,
  REGION,
  ROLE_ARN,
  SECRETS,
  TERMINAL_ESCAPES,
  USER_ARN,
} from "./fake-amazon";
import { runThroughNpm, startThroughNpm } from "./through-npm";

const REPO = path.join(__dirname, "..");

const GOOD: CredentialValues = {
  region: REGION,
  role_arn: ROLE_ARN,
  aws_access_key_id: SECRETS.keyId,
  aws_secret_access_key: SECRETS.keySecret,
  client_id: SECRETS.clientId,
  client_secret: SECRETS.clientSecret,
  refresh_token: SECRETS.refreshToken,
};

/** The block as the kit writes it (the repo's template), with some values replaced. */
function blockOf(overrides: Partial<CredentialValues> = {}): string {
  return renderCredentials({ ...GOOD, ...overrides }, "na");
}

describe("npm run verify", function () {
  const fake = new FakeAmazon();
  before(() => fake.start());
  after(() => fake.stop());
  beforeEach(() => fake.reset());

  /** Every value that must never be printed: the secrets, the tokens, the signatures the fake received,
   * and the full access key ids (shown masked only). */
  function assertNoSecrets(output: string): void {
    const secrets: Record<string, string> = {
      "secret access key": SECRETS.keySecret,
      "session secret": SECRETS.sessionSecret,
      "session token": SECRETS.sessionToken,
      "client secret": SECRETS.clientSecret,
      "refresh token": SECRETS.refreshToken,
      "access token": SECRETS.accessToken,
      "full access key id": SECRETS.keyId,
      "full session key id": SECRETS.sessionKeyId,
    };
    fake.seen.forEach((r, i) => r.signature && (secrets[`signature of request ${i}`] = r.signature));
    for (const [what, value] of Object.entries(secrets)) {
      assert.ok(!output.includes(value), `the output shows the ${what}`);
      assert.ok(!output.includes(encodeURIComponent(value)), `the output shows the ${what}, URL-encoded`);
    }
    assert.doesNotMatch(output, /AWS4-HMAC-SHA256|Signature=|authorization/i);
  }

  interface Run {
    code: number;
    output: string;
    /** The waits verify asked for (recorded, not slept). */
    waits: number[];
    /** The status line of step n. */
    step(n: number): string;
  }

  async function verify(input: string, options: { expectUser?: string; env?: Record<string, string> } = {}): Promise<Run> {
    let output = "";
    const waits: number[] = [];
    const code = await runVerify({
      input,
      source: "test.hjson",
      env: fake.env(options.env),
      out: { write: (text: string) => (output += text) },
      expectUser: options.expectUser,
      sleep: async (ms) => void waits.push(ms),
    });
    assertNoSecrets(output);
    const step = (n: number) => {
      const line = output.split("\n").find((l) => new RegExp(`^[✓✗-] ${n}\\. `).test(l));
      assert.ok(line, `no line for step ${n} in:\n${output}`);
      return line;
    };
    return { code, output, waits, step };
  }

  it("a job config (JSON or HJSON): every credentials object verified, each named by its path; a named credential reported as such", async () => {
    const job = (credentials: unknown) => ({ name: "acme-orders", input: { use: "amazon_selling_partner_api.io#AmazonSPApiInput", credentials } });
    const json = JSON.stringify({ jobs: [job(GOOD), job({ ...GOOD, region: "eu-central-1" }), job("acme-sp-api")] }, null, 2);
    const run = await verify(json);
    assert.equal(run.code, 1, run.output);
    assert.match(run.output, /^test\.hjson is a job config: 2 credentials objects, 1 named credential; each is verified on its own\.$/m);
    assert.match(run.output, /^Verifying the credentials block from test\.hjson: jobs\[0\]\.input\.credentials$/m);
    assert.match(run.output, /^Verifying the credentials block from test\.hjson: jobs\[1\]\.input\.credentials$/m);
    assert.match(run.output, /^OK: 5 passed\.$/m);
    assert.match(run.output, /region "eu-central-1" is not an SP-API signing region/);
    assert.match(
      run.output,
      /^- test\.hjson: jobs\[2\]\.input\.credentials: a named credential, "acme-sp-api": its values are in the product's Credentials page, not in this file\./m,
    );
    assert.match(
      run.output,
      /^FAILED: 1 of 2 credentials objects passed \(failed: jobs\[1\]\.input\.credentials\); 1 named \(not checked here: jobs\[2\]\.input\.credentials\)\.$/m,
    );
    assert.doesNotMatch(run.output, /region is missing/);
    // The same job as HJSON, with comments, one object: it passes.
    const hjson = `# acme's orders job\n{\n  name: acme-orders\n  input: {\n    credentials: {\n${Object.entries(GOOD)
      .map(([k, v]) => `      ${k}: ${JSON.stringify(v)}`)
      .join("\n")}\n    }\n  }\n}\n`;
    const single = await verify(hjson);
    assert.equal(single.code, 0, single.output);
    assert.match(single.output, /^OK: 1 of 1 credentials object passed\.$/m);
  });

  it("--json on a job config: one document, each object's steps under its path", async () => {
    let output = "";
    const code = await runVerify({
      input: JSON.stringify({ input: { credentials: GOOD } }),
      source: "orders.json",
      env: fake.env(),
      json: true,
      out: { write: (text: string) => (output += text) },
      sleep: async () => undefined,
    });
    assert.equal(code, 0, output);
    const doc = JSON.parse(output) as { jobConfig: boolean; objects: { path: string; ok: boolean; steps: unknown[] }[]; named: unknown[] };
    assert.equal(doc.jobConfig, true);
    assert.deepEqual(
      doc.objects.map((o) => [o.path, o.ok, o.steps.length]),
      [["input.credentials", true, 5]],
    );
    assertNoSecrets(output);
  });

  it("an LWA-only block: its fix names the three fields, not seven", async () => {
    const run = await verify(`credentials: {\n  client_id: "${GOOD.client_id}"\n  client_secret: "${GOOD.client_secret}"\n}\n`);
    assert.equal(run.code, 1);
    assert.match(run.output, /Fix: an LWA-only block \(connectorAuth lwa\) holds client_id, client_secret, refresh_token, each a quoted string/);
    assert.doesNotMatch(run.output, /Fix: the block must hold region/);
  });

  it("passes a good block: key, role, token and a signed SP-API call that the fake verified", async () => {
    const run = await verify(blockOf());
    assert.strictEqual(run.code, 0, run.output);
    for (const n of [1, 2, 3, 4, 5]) assert.match(run.step(n), /^✓/);
    assert.match(run.step(2), new RegExp(`belongs to ${USER_ARN}`));
    assert.ok(run.output.includes(maskKeyId(SECRETS.keyId)), "shows the masked key id");
    for (const m of MARKETPLACES) assert.ok(run.output.includes(`${m.id} ${m.name} (${m.countryCode})`), `lists ${m.id}`);
    assert.match(run.output, /OK: 5 passed\./);

    const sts = fake.requests("sts");
    assert.deepStrictEqual(
      sts.map((r) => r.action),
      ["GetCallerIdentity", "AssumeRole"],
    );
    assert.ok(
      sts.every((r) => r.keyId === SECRETS.keyId && r.region === REGION),
      "STS calls signed with the block's key and region",
    );
    assert.strictEqual(sts[1].form?.RoleArn, ROLE_ARN);
    assert.strictEqual(sts[1].form?.RoleSessionName, "sp-api-iam-verify");
    const [spApi] = fake.requests("sp-api");
    assert.deepStrictEqual(spApi.problems, [], "the fake SP-API found the request malformed");
    assert.strictEqual(spApi.keyId, SECRETS.sessionKeyId);
  });

  it("over a stack's two authorizations (NA default, EU): the five steps, then the EU token, one LWA exchange; a revoked one fails alone", async () => {
    const eu = renderCredentials({ ...GOOD, region: "eu-west-1", refresh_token: EU_REFRESH_TOKEN }, "eu");
    const run = async (authorizations: { name: string; input: string }[]) => {
      let output = "";
      fake.reset();
      const code = await runVerify({
        input: blockOf(),
        source: "stack seller",
        env: fake.env(),
        out: { write: (t: string) => (output += t) },
        authorizations,
        sleep: async () => undefined,
      });
      assertNoSecrets(output);
      assert.ok(!output.includes(EU_REFRESH_TOKEN), "the EU token is never shown");
      return { code, output, exchanges: fake.seen.filter((r) => r.service === "lwa").map((r) => r.form!.refresh_token) };
    };
    const both = await run([{ name: "eu", input: eu }]);
    assert.equal(both.code, 0, both.output);
    assert.match(both.output, /^✓ 6\. Refresh token of eu \(LWA token exchange\): access token issued, valid 3600 s; region eu-west-1 \(SP-API eu\)$/m);
    assert.match(both.output, /^OK: 6 passed\.$/m);
    assert.deepEqual(both.exchanges, [SECRETS.refreshToken, EU_REFRESH_TOKEN], "one exchange per authorization");

    const revoked = await run([{ name: "eu", input: eu.replace(JSON.stringify(EU_REFRESH_TOKEN), JSON.stringify("Atzr|IwEBI-revoked-by-the-seller-000")) }]);
    assert.equal(revoked.code, 1);
    assert.match(revoked.output, /^✗ 6\. Refresh token of eu \(LWA token exchange\): /m);
    assert.match(revoked.output, /^✓ 5\. /m, "the main block's steps pass");
    assert.match(revoked.output, /^FAILED: 5 passed, 1 failed \(step 6\)\.$/m);

    const broken = await runVerify({ input: "not a block", env: fake.env(), out: { write: () => true }, authorizations: [{ name: "eu", input: eu }] });
    assert.equal(broken, 1);
    assert.deepEqual(parseArgs(["--stack", "seller"]), { kind: "run", file: undefined, stack: "seller", expectUser: undefined, json: false });
    assert.deepEqual(parseArgs(["-s", "seller"]), { kind: "run", file: undefined, stack: "seller", expectUser: undefined, json: false });
    assert.equal(parseArgs(["credentials.hjson", "--stack", "seller"]).kind, "error");
  });

  it("accepts the bare object as well as the credentials: wrapper, and checks --expect-user", async () => {
    const bare = JSON.stringify(GOOD, null, 2);
    assert.strictEqual((await verify(bare, { expectUser: "sp-api-connector" })).code, 0);
    assert.strictEqual((await verify(bare, { expectUser: USER_ARN })).code, 0);
    const run = await verify(bare, { expectUser: "someone-else" });
    assert.strictEqual(run.code, 1);
    assert.match(run.step(2), /^✗ .*not to the expected user someone-else/);
    assert.match(run.step(3), /^- .*not run/);
  });

  it("fails an unknown access key after waiting out the propagation budget", async () => {
    const run = await verify(blockOf({ aws_access_key_id: "AKIAZ2Q7UNKNOWNKEY77" }));
    assert.strictEqual(run.code, 1);
    assert.match(run.step(2), /^✗ .*does not recognise the access key id AKIA…EY77 \(InvalidClientTokenId, still after waiting 60 s/);
    assert.strictEqual(
      run.waits.reduce((a, b) => a + b, 0),
      DEFAULT_RETRY.budgetMs,
    );
    assert.match(run.output, /Fix: copy the block again/);
    assert.match(run.step(3), /not run \(step 2 failed\)/);
    assert.match(run.step(4), /^✓/, "LWA does not depend on AWS, so it still runs");
    assert.match(run.step(5), /not run \(it needs step 3 to pass\)/);
  });

  it("fails a wrong secret access key at once, pointing at copy errors and the encrypted form", async () => {
    const run = await verify(blockOf({ aws_secret_access_key: "wJal/rXUtn+FEMI/K7MDENG=bPxRfiCYWRONGKEY0" }));
    assert.strictEqual(run.code, 1);
    assert.match(run.step(2), /^✗ .*is not its secret \(SignatureDoesNotMatch\)/);
    assert.match(run.output, /gpg --decrypt/);
    assert.deepStrictEqual(run.waits, [], "a wrong secret is not a propagation delay");
    assert.ok(!run.output.includes("WRONGKEY0"), "the wrong secret is not shown either");
  });

  it("fails a root-account key", async () => {
    fake.behaviour.callerArn = "arn:aws:iam::123456789012:root";
    const run = await verify(blockOf());
    assert.strictEqual(run.code, 1);
    assert.match(run.step(2), /^✗ .*root user's key .*Roles may not be assumed by root accounts/);
    assert.strictEqual(fake.requests("sts", "AssumeRole").length, 0);
  });

  it("names the mix-up when role_arn holds the user's ARN", async () => {
    const run = await verify(blockOf({ role_arn: USER_ARN }));
    assert.strictEqual(run.code, 1);
    assert.match(run.step(2), /^✓/);
    assert.match(run.step(3), /^✗ .*the user ARN was given where the role ARN belongs/);
    assert.strictEqual(fake.requests("sts", "AssumeRole").length, 0);
  });

  it("gives up on AssumeRole AccessDenied after about a minute, saying it waited and why", async () => {
    fake.behaviour.assumeRoleAlways = "AccessDenied";
    const run = await verify(blockOf());
    assert.strictEqual(run.code, 1);
    assert.match(run.step(3), /^✗ .*not allowed to assume .*\(AccessDenied, still after waiting 60 s for IAM propagation\)/);
    assert.match(run.output, /… AssumeRole answered AccessDenied: IAM can take up to a minute/);
    assert.deepStrictEqual(run.waits, backoffSchedule(DEFAULT_RETRY));
    assert.strictEqual(fake.requests("sts", "AssumeRole").length, run.waits.length + 1);
    assert.match(run.output, /trust policy/);
  });

  it("waits out IAM propagation (InvalidClientTokenId twice) and then passes", async () => {
    fake.behaviour.failNext.GetCallerIdentity = ["InvalidClientTokenId"];
    fake.behaviour.failNext.AssumeRole = ["InvalidClientTokenId", "InvalidClientTokenId"];
    const run = await verify(blockOf());
    assert.strictEqual(run.code, 0, run.output);
    assert.deepStrictEqual(run.waits, [1000, 1000, 2000]);
    assert.strictEqual((run.output.match(/answered InvalidClientTokenId: IAM can take up to a minute.*waiting/g) ?? []).length, 3);
    assert.match(run.step(3), /^✓/);
  });

  it("maps LWA invalid_client to the 180-day secret rotation", async () => {
    fake.behaviour.lwaError = "invalid_client";
    const run = await verify(blockOf());
    assert.strictEqual(run.code, 1);
    assert.match(run.step(4), /^✗ .*rejected client_id and client_secret \(HTTP 401 invalid_client\)/);
    assert.match(run.output, /Fix: .*Rotate secret .*180 days.*npm run rotate-lwa -- --stored-by-hand \(the secret on standard input/);
    assert.match(run.step(5), /not run \(it needs step 4 to pass\)/);
  });

  it("says an expired LWA secret is expired when LWA says so", () => {
    const outcome = judgeLwaAnswer({ kind: "error", httpStatus: 401, error: "invalid_client", expired: true }, readSettings({}));
    assert.ok(outcome.status === "failed" && /has expired/.test(outcome.cause) && /Rotate secret/.test(outcome.fix));
  });

  it("maps LWA invalid_grant to re-authorizing the app", async () => {
    fake.behaviour.lwaError = "invalid_grant";
    const run = await verify(blockOf());
    assert.strictEqual(run.code, 1);
    assert.match(run.step(4), /^✗ .*rejected the refresh token \(HTTP 400 invalid_grant\): it was revoked/);
    assert.match(run.output, /Fix: re-authorize the app/);
  });

  it("maps SP-API 403 to authorization, registered ARN and execute-api causes", async () => {
    fake.behaviour.spApiStatus = 403;
    const run = await verify(blockOf());
    assert.strictEqual(run.code, 1);
    assert.match(run.step(5), /^✗ .*denied the call \(HTTP 403 Unauthorized\)/);
    assert.match(run.output, /not authorized for this region \(na/);
    assert.match(run.output, /IAM ARN registered\s+with the app in Seller Central is not role_arn/);
    assert.match(run.output, /execute-api:Invoke/);
    assert.match(run.output, /request id: a1b2c3d4-fake-request/);
  });

  it("maps SP-API 401 to an expired token or the wrong region", async () => {
    fake.behaviour.spApiStatus = 401;
    const run = await verify(blockOf());
    assert.strictEqual(run.code, 1);
    assert.match(run.step(5), /^✗ .*did not accept the access token \(HTTP 401 Unauthorized\): it expired, or .*another region/);
  });

  it("fails an unparseable block without quoting it, and runs nothing else", async () => {
    const run = await verify(`credentials: {\n  aws_secret_access_key: "${SECRETS.keySecret}" }}\n`);
    assert.strictEqual(run.code, 1);
    assert.match(run.step(1), /^✗ .*not valid HJSON: .*at line 2,\d+/);
    for (const n of [2, 3, 4, 5]) assert.match(run.step(n), /^- .*not run \(step 1 failed\)/);
    assert.strictEqual(fake.seen.length, 0);
  });

  it("names a missing field and an unknown region", async () => {
    const missing = await verify(blockOf().replace(/^\s*refresh_token:.*$/m, ""));
    assert.strictEqual(missing.code, 1);
    assert.match(missing.step(1), /^✗ .*refresh_token is missing/);
    const region = await verify(blockOf({ region: "eu-central-1" }));
    assert.strictEqual(region.code, 1);
    assert.match(region.step(1), /region "eu-central-1" is not an SP-API signing region; allowed: us-east-1 \(na\), eu-west-1 \(eu\), us-west-2 \(fe\)/);
  });

  it("skips the LWA steps for placeholders; the exit code follows the steps that ran", async () => {
    const placeholders = { client_id: PLACEHOLDERS.client_id, client_secret: PLACEHOLDERS.client_secret, refresh_token: PLACEHOLDERS.refresh_token };
    const run = await verify(blockOf(placeholders));
    assert.strictEqual(run.code, 0, run.output);
    assert.match(run.output, /Placeholders still in place: client_id, client_secret, refresh_token; the LWA steps \(4, 5\) are skipped/);
    assert.match(run.step(3), /^✓/);
    assert.match(run.step(4), /^- .*skipped \(placeholder in client_id, client_secret, refresh_token\)/);
    assert.match(run.step(5), /^- .*skipped/);
    assert.strictEqual(fake.requests("lwa").length, 0);

    const failing = await verify(blockOf({ ...placeholders, aws_access_key_id: "AKIAZ2Q7UNKNOWNKEY77" }), { env: { SP_API_VERIFY_RETRY_BUDGET_MS: "0" } });
    assert.strictEqual(failing.code, 1);
    assert.match(failing.step(4), /skipped/);
  });

  it("skips the AWS steps while the secret access key is still encrypted", async () => {
    const run = await verify(blockOf({ aws_secret_access_key: ENCRYPTED_SECRET_PLACEHOLDER }));
    assert.strictEqual(run.code, 0, run.output);
    assert.match(run.step(2), /^- .*skipped \(placeholder in aws_secret_access_key\)/);
    assert.match(run.step(3), /skipped/);
    assert.match(run.step(4), /^✓/);
    assert.match(run.step(5), /skipped/);
    assert.strictEqual(fake.requests("sts").length, 0);
  });

  it("rejects a malformed setting with exit code 2", async () => {
    let output = "";
    const code = await runVerify({ input: blockOf(), env: { SP_API_VERIFY_RETRY_BUDGET_MS: "a minute" }, out: { write: (t: string) => (output += t) } });
    assert.strictEqual(code, 2);
    assert.match(output, /SP_API_VERIFY_RETRY_BUDGET_MS must be a whole number of milliseconds/);
  });

  describe("peers that stall, trickle or answer garbage", () => {
    // A trickle faster than the timeout: an idle timeout would never fire; only a deadline on the whole
    // exchange (headers and body) ends it.
    // One timeout bounds every peer's answer, the healthy fakes' too: a margin they meet on a loaded machine (at 200 ms
    // a healthy LWA fake missed it beside another suite), the misbehaving peer never.
    const impatient = { SP_API_VERIFY_TIMEOUT_MS: "2000" };
    const trickleFast = { trickleIntervalMs: 40 };
    const SERVICES = ["sts", "lwa", "sp-api"] as const;
    const stepOf = { sts: 2, lwa: 4, "sp-api": 5 } as const;
    const nameOf = { sts: "STS", lwa: "LWA", "sp-api": "SP-API" } as const;

    const endpointVariable = { sts: "AWS_ENDPOINT_URL_STS", lwa: "SP_API_LWA_ENDPOINT", "sp-api": "SP_API_ENDPOINT" } as const;

    for (const kind of ["stall", "trickle", "trickle-headers"] as const) {
      it(`a peer that misbehaves (${kind}) in place of STS, LWA or SP-API: that step says it timed out after SP_API_VERIFY_TIMEOUT_MS, and verify goes on`, async () => {
        const peer = await MisbehavingPeer.open(kind, trickleFast);
        try {
          // The three services at once, each run with one of them pointed at the peer.
          const runs = await Promise.all(
            SERVICES.map((service) => verify(blockOf(), { env: { ...impatient, [endpointVariable[service]]: `${peer.url}/${service}` } })),
          );
          SERVICES.forEach((service, i) => {
            const run = runs[i];
            assert.strictEqual(run.code, 1, run.output);
            const n = stepOf[service];
            assert.match(
              run.step(n),
              new RegExp(`^✗ ${n}\\. .*${nameOf[service]} at ${peer.url}/${service} timed out: no complete answer .*within 2 s \\(SP_API_VERIFY_TIMEOUT_MS\\)`),
            );
            assert.match(run.output, /Fix: .*raise SP_API_VERIFY_TIMEOUT_MS/);
            assert.doesNotMatch(run.output, /\(23\)|\(AbortError\)|\(TimeoutError\)|ECONNRESET/);
            if (service === "sts") assert.match(run.step(4), /^✓/, "LWA does not depend on STS and still runs");
            assert.match(run.output, /^FAILED: /m);
          });
          assert.strictEqual(peer.requests, 3);
        } finally {
          await peer.stop();
        }
      });
    }

    it("bounds each attempt inside the propagation retries: AccessDenied, then a stalled AssumeRole", async () => {
      fake.behaviour.failNext.AssumeRole = ["AccessDenied", "stall"];
      const run = await verify(blockOf(), { env: impatient });
      assert.strictEqual(run.code, 1, run.output);
      assert.deepStrictEqual(run.waits, [1000], "waited once for propagation, then the stalled attempt ended the step");
      assert.strictEqual(fake.requests("sts", "AssumeRole").length, 2);
      assert.match(run.step(3), /^✗ 3\. .*STS at .* timed out: no complete answer to AssumeRole within 2 s/);
    });

    it("garbage from STS, LWA or SP-API is named as not the service's answer, never 'refused (HTTP 200)'", async () => {
      for (const service of SERVICES) {
        fake.reset();
        fake.behaviour.misbehave = { [service]: "garbage" };
        const run = await verify(blockOf());
        assert.strictEqual(run.code, 1, run.output);
        const line = run.step(stepOf[service]);
        assert.match(line, new RegExp(`^✗ .*the server at http://127\\.0\\.0\\.1:\\d+/${service} answered .*not an answer from ${nameOf[service]}`), line);
        if (service !== "sts") assert.match(line, /answered HTTP 200 with a body \(application\/json\) that is not JSON/);
        assert.doesNotMatch(run.output, /refused .*\(HTTP 200\)/);
        assert.ok(!run.output.includes("Hotel WiFi"), "the garbage itself is not printed");
      }
    });

    it("does not follow a redirect from LWA or SP-API: the secrets and the token would go with it", async () => {
      const elsewhere = await MisbehavingPeer.open("garbage");
      const redirector = await MisbehavingPeer.open("redirect", { redirectTo: `${elsewhere.url}/collect` });
      try {
        const lwa = await verify(blockOf(), { env: { SP_API_LWA_ENDPOINT: `${redirector.url}/lwa` } });
        assert.match(lwa.step(4), /^✗ .*answered with a redirect \(HTTP 307\): LWA's token endpoint does not redirect/);
        const spApi = await verify(blockOf(), { env: { SP_API_ENDPOINT: `${redirector.url}/sp-api` } });
        assert.match(spApi.step(5), /^✗ .*answered with a redirect \(HTTP 307\): SP-API does not redirect/);
        assert.strictEqual(redirector.requests, 2);
        assert.strictEqual(elsewhere.requests, 0, "a request followed the redirect");
      } finally {
        await redirector.stop();
        await elsewhere.stop();
      }
    });

    it("judges an error status without JSON by its status (a 503 page is an outage, not a stranger)", async () => {
      fake.behaviour.misbehave = { lwa: "garbage" };
      fake.behaviour.misbehaviourOptions = { garbageStatus: 503 };
      const run = await verify(blockOf());
      assert.match(run.step(4), /^✗ .*\(HTTP 503\)/);
      assert.match(run.output, /Fix: LWA had a fault on its side/);
    });

    it("strips terminal escapes and control characters from server text before printing it", async () => {
      fake.behaviour.marketplaces = [{ id: "ATVPDKIKX0DER", name: `Amazon${TERMINAL_ESCAPES}.com`, countryCode: `U${TERMINAL_ESCAPES}S` }];
      const run = await verify(blockOf());
      assert.strictEqual(run.code, 0, run.output);
      assert.ok(run.output.includes("ATVPDKIKX0DER Amazon.com (US)"), run.output);
      const controls = [...run.output].filter((c) => {
        const n = c.codePointAt(0) ?? 0;
        return (n < 0x20 && c !== "\n") || (n >= 0x7f && n <= 0x9f) || c === "\u202e";
      });
      assert.deepStrictEqual(controls, []);
    });

    it("the reusable MisbehavingPeer stalls, trickles, answers garbage or redirects, at any path", async () => {
      for (const kind of MISBEHAVIOURS) {
        const peer = await MisbehavingPeer.open(kind, { trickleIntervalMs: 20 });
        try {
          // A margin (2 s) within which the peer sees the request and a well-behaved answer arrives, on any machine.
          const answer = await fetchWithDeadline(`${peer.url}/any/path`, { method: "POST", body: "x=1" }, 2000);
          if (kind === "garbage") {
            assert.ok(answer.kind === "answered" && answer.status === 200 && answer.text === GARBAGE_BODY, kind);
          } else if (kind === "redirect") {
            assert.ok(answer.kind === "answered" && answer.status === 307, kind);
          } else {
            assert.deepStrictEqual(answer, { kind: "timed-out", timeoutMs: 2000 }, kind);
          }
          assert.strictEqual(peer.requests, 1);
        } finally {
          await peer.stop();
        }
      }
    });
  });

  describe("what a block may hold, and what is never shown of it", () => {
    it("does not echo a secret sitting in role_arn or region: the field is described by its shape", async () => {
      for (const field of ["role_arn", "region"] as const) {
        // The secret both in its own field and in the wrong one, and then only in the wrong one.
        for (const secretField of [SECRETS.keySecret, "AKIA-not-a-secret-field-value"]) {
          const run = await verify(blockOf({ [field]: SECRETS.keySecret, aws_secret_access_key: secretField }));
          assert.strictEqual(run.code, 1, run.output);
          assert.match(
            run.step(1),
            new RegExp(`^✗ .*${field} \\(41 characters: upper-case letters, lower-case letters, digits, punctuation(; not a region name)?\\) is not an`),
          );
          assert.strictEqual(fake.seen.length, 0);
        }
      }
    });

    it("does not show a secret pasted into aws_access_key_id, not even masked", async () => {
      const run = await verify(blockOf({ aws_access_key_id: SECRETS.clientSecret }), { env: { SP_API_VERIFY_RETRY_BUDGET_MS: "0" } });
      assert.strictEqual(run.code, 1, run.output);
      assert.ok(!run.output.includes(maskKeyId(SECRETS.clientSecret)), "shows the secret's first and last four characters");
      assert.match(
        run.step(2),
        /does not recognise the access key id in aws_access_key_id \(\d+ characters: lower-case letters, digits, punctuation; not shaped like an access key id\)/,
      );
    });

    it("accepts a UTF-8 byte-order mark", async () => {
      const run = await verify("\uFEFF" + blockOf());
      assert.strictEqual(run.code, 0, run.output);
    });

    it("refuses two blocks in one input, and a field given twice, instead of letting the last win", async () => {
      const two = await verify(blockOf() + "\n" + blockOf({ role_arn: `arn:aws:iam::${"9".repeat(12)}:role/Other` }));
      assert.strictEqual(two.code, 1, two.output);
      assert.match(two.step(1), /^✗ .*the input holds 2 credentials blocks; give one/);
      const twice = await verify(blockOf().replace(/^(\s*)region: (.*)$/m, '$1region: $2\n$1region: "eu-west-1"'));
      assert.strictEqual(twice.code, 1, twice.output);
      assert.match(twice.step(1), /^✗ .*region appears 2 times; give it once/);
      const bare = await verify(JSON.stringify(GOOD).replace('"region":"us-east-1"', '"region":"us-east-1","region":"us-west-2"'));
      assert.match(bare.step(1), /^✗ .*region appears 2 times/);
      assert.strictEqual(fake.seen.length, 0, "nothing was sent");
    });

    it("refuses an input over 64 KiB before parsing it", async () => {
      const run = await verify(blockOf() + "#" + "x".repeat(MAX_INPUT_BYTES));
      assert.strictEqual(run.code, 1);
      assert.match(run.step(1), /^✗ .*the input is \d+ KiB, more than the 64 KiB limit/);
    });

    it("reads a stream only up to the cap: an endless input is refused, not held in memory", async () => {
      let pulled = 0;
      const endless = Readable.from(
        (function* () {
          for (;;) {
            pulled += 1024;
            yield Buffer.alloc(1024, "x");
          }
        })(),
      );
      const read = await readCapped(endless, "standard input");
      assert.ok(!read.ok && /standard input is larger than 64 KiB: that is not a credentials block/.test(read.message));
      assert.ok(pulled <= MAX_INPUT_BYTES + 64 * 1024, `read ${pulled} bytes`);
    });
  });

  it("refuses a directory given as the file", async () => {
    const read = await readInput(".", { INIT_CWD: os.tmpdir() });
    assert.ok(!read.ok && read.message === ". is a directory; give the credentials file", JSON.stringify(read));
  });

  describe("endpoint settings", () => {
    it("refuses an endpoint with user:password@ without printing the password", async () => {
      let output = "";
      const env = { ...fake.env(), SP_API_LWA_ENDPOINT: `http://admin:hunter2secret@127.0.0.1:1/lwa` };
      const code = await runVerify({ input: blockOf(), env, out: { write: (t: string) => (output += t) } });
      assert.strictEqual(code, 2);
      assert.match(output, /SP_API_LWA_ENDPOINT holds a user name or password \(http:\/\/\*\*\*:\*\*\*@127\.0\.0\.1:1\/lwa\)/);
      assert.ok(!output.includes("hunter2secret") && !output.includes("admin"));
      assert.strictEqual(fake.seen.length, 0);
    });

    it("refuses plain http:// to another machine (LWA secrets in clear); allows it on loopback", () => {
      for (const name of ["AWS_ENDPOINT_URL_STS", "SP_API_LWA_ENDPOINT", "SP_API_ENDPOINT"]) {
        assert.throws(() => readSettings({ [name]: "http://api.example.com" }), new RegExp(`${name} is plain http:// to another machine`));
        assert.throws(() => readSettings({ [name]: "http://10.0.0.1:8080" }), /unencrypted/);
      }
      for (const loopback of ["http://127.0.0.1:9", "http://localhost:9", "http://[::1]:9", "https://api.example.com"]) {
        assert.doesNotThrow(() => readSettings({ SP_API_LWA_ENDPOINT: loopback }), loopback);
      }
    });
  });

  describe("the CLI process", function () {
    function cli(args: string[], env: NodeJS.ProcessEnv, stdin = ""): Promise<{ code: number | null; output: string }> {
      return new Promise((resolve, reject) => {
        const child = spawn(process.execPath, ["-r", "./tools/register.js", "commands/verify/cli.ts", ...args], { cwd: REPO, env });
        let output = "";
        child.stdout.on("data", (d) => (output += d));
        child.stderr.on("data", (d) => (output += d));
        child.on("error", reject);
        child.on("close", (code) => resolve({ code, output }));
        child.stdin.end(stdin);
      });
    }

    /** How long npm took, in the first test below, from spawning to verify's first line: the second test
     * writes its standard input well after that, so that verify is already waiting on the pipe. */
    let startupMs = 0;

    it("through npm from another directory: finds the file where the user is, and stops quietly when the reader leaves (| head -1)", async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "verify-door-"));
      let release = () => {};
      fake.behaviour.holdUntil = new Promise<void>((resolve) => (release = resolve));
      try {
        fs.writeFileSync(path.join(dir, "creds.hjson"), blockOf(), { mode: 0o600 });
        const spawnedAt = Date.now();
        // The child itself, not only its result: the test leaves its standard output while it runs.
        const { child, done } = startThroughNpm("verify", ["creds.hjson"], { cwd: dir, env: { ...process.env, ...fake.env() } });
        child.stdout.once("data", () => (startupMs = Date.now() - spawnedAt));
        // Read until step 1 (the file was found and parsed); then go away like `head` does, and only then let
        // STS answer, so that verify's next line meets a closed pipe.
        let stdout = "";
        await new Promise<void>((resolve) => {
          child.stdout.on("data", (d) => {
            stdout += d;
            if (/✓ 1\. /.test(stdout)) resolve();
          });
          void done.then(() => resolve());
        });
        child.stdout.destroy();
        release();
        const { code, stderr } = await done;
        assert.match(stdout, /^Verifying the credentials block from creds\.hjson\n✓ 1\. Credentials block: all 7 fields present/);
        assert.strictEqual(stderr, "", "no EPIPE stack trace, no npm error");
        assert.strictEqual(code, 1, "it did not finish: not a pass");
      } finally {
        release();
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });

    it("through npm from another directory, with standard input from a slow pipe: reads it all and exits 0", async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "verify-door-"));
      try {
        // Like `pulumi stack output ... | npm run verify`: part of the block now, the rest later, when verify is
        // waiting on an empty pipe (readFileSync(0) failed there with EAGAIN).
        const block = blockOf();
        const slowly = (stdin: Writable) => {
          stdin.write(block.slice(0, 200));
          setTimeout(() => stdin.end(block.slice(200)), Math.max(800, 1.5 * startupMs));
        };
        const result = await runThroughNpm("verify", [], { cwd: dir, env: { ...process.env, ...fake.env() }, stdin: slowly });
        const output = result.stdout + result.stderr;
        assert.strictEqual(result.code, 0, output);
        assert.match(output, /Verifying the credentials block from standard input/);
        assert.match(output, /OK: 5 passed\./);
        assertNoSecrets(output);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });

    it("--json through npm: one JSON document on standard output and nothing else there; the lines on standard error", async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "verify-json-"));
      try {
        fs.writeFileSync(path.join(dir, "creds.hjson"), blockOf(), { mode: 0o600 });
        fake.behaviour.lwaError = "invalid_grant";
        const result = await runThroughNpm("verify", ["creds.hjson", "--json"], { cwd: dir, env: { ...process.env, ...fake.env() } });
        assert.strictEqual(result.code, 1, result.stderr);
        const doc = JSON.parse(result.stdout) as { source: string; exitCode: number; ok: boolean; steps: { number: number; status: string; cause?: string }[] };
        assert.deepStrictEqual(
          { source: doc.source, exitCode: doc.exitCode, ok: doc.ok, statuses: doc.steps.map((s) => `${s.number} ${s.status}`) },
          { source: "creds.hjson", exitCode: 1, ok: false, statuses: ["1 passed", "2 passed", "3 passed", "4 failed", "5 not-run"] },
        );
        assert.match(doc.steps[3]!.cause!, /invalid_grant/);
        assert.match(result.stderr, /FAILED: 3 passed, 1 failed \(step 4\), 1 not run\./);
        assertNoSecrets(result.stdout + result.stderr);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });

    it("reads standard input, exits 0, and ignores the caller's own AWS credentials, region, profile and endpoints", async () => {
      const home = fs.mkdtempSync(path.join(os.tmpdir(), "verify-home-"));
      try {
        fs.mkdirSync(path.join(home, ".aws"));
        const config = path.join(home, ".aws", "config");
        fs.writeFileSync(config, "[profile ambient]\nregion = eu-west-1\nendpoint_url = http://127.0.0.1:9\n[default]\nregion = eu-west-1\n");
        const ambient = {
          PATH: process.env.PATH,
          HOME: home,
          AWS_ACCESS_KEY_ID: "AKIAZ2Q7AMBIENTKEY00",
          AWS_SECRET_ACCESS_KEY: "ambient/secret+key=0000000000000000000000",
          AWS_SESSION_TOKEN: "ambient-session-token",
          AWS_REGION: "eu-west-1",
          AWS_DEFAULT_REGION: "eu-west-1",
          AWS_PROFILE: "ambient",
          AWS_CONFIG_FILE: config,
          AWS_ENDPOINT_URL: "http://127.0.0.1:9",
          AWS_USE_FIPS_ENDPOINT: "true",
          AWS_STS_REGIONAL_ENDPOINTS: "legacy",
        };
        const { code, output } = await cli([], { ...ambient, ...fake.env() }, blockOf());
        assert.strictEqual(code, 0, output);
        assert.match(output, /Verifying the credentials block from standard input/);
        assert.match(output, /OK: 5 passed\./);
        assert.ok(fake.requests("sts").every((r) => r.keyId === SECRETS.keyId && r.region === REGION));
        assertNoSecrets(output);
      } finally {
        fs.rmSync(home, { recursive: true, force: true });
      }
    });

    it("reads a file, waits with the retry settings from the environment, and exits 1 on a failed step", async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "verify-file-"));
      try {
        const file = path.join(dir, "credentials.hjson");
        fs.writeFileSync(file, blockOf(), { mode: 0o600 });
        fake.behaviour.failNext.AssumeRole = ["AccessDenied", "InvalidClientTokenId"];
        fake.behaviour.lwaError = "invalid_grant";
        const env = { PATH: process.env.PATH, ...fake.env({ SP_API_VERIFY_RETRY_BASE_MS: "20", SP_API_VERIFY_RETRY_BUDGET_MS: "2000" }) };
        const { code, output } = await cli([file], env);
        assert.strictEqual(code, 1, output);
        assert.match(output, /waiting 20 ms \(retry 1\)/);
        assert.match(output, /waiting 40 ms \(retry 2\)/);
        assert.match(output, /✓ 3\. /);
        assert.match(output, /✗ 4\. .*invalid_grant/);
        assert.match(output, /FAILED: 3 passed, 1 failed \(step 4\), 1 not run\./);
        assertNoSecrets(output);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  });
});

describe("verify helpers", () => {
  it("sends STS calls to the block region's regional endpoint whatever the AWS_* variables say", async () => {
    const ambient = { AWS_ENDPOINT_URL: "http://127.0.0.1:9", AWS_REGION: "eu-west-1", AWS_STS_REGIONAL_ENDPOINTS: "legacy", AWS_USE_FIPS_ENDPOINT: "true" };
    const saved = Object.fromEntries(Object.keys(ambient).map((k) => [k, process.env[k]]));
    Object.assign(process.env, ambient);
    try {
      const parsed = parseCredentialsBlock(blockOf());
      assert.ok(parsed.ok);
      const client = createStsClient(parsed.block, readSettings({}));
      let sentTo: string | undefined;
      // Stops the call once built, before anything leaves the machine: the request's destination is the point.
      client.middlewareStack.add(
        () => async (args) => {
          const request = args.request as { protocol: string; hostname: string };
          sentTo = `${request.protocol}//${request.hostname}`;
          throw new Error("stop here");
        },
        { step: "finalizeRequest", priority: "high" },
      );
      await assert.rejects(client.send(new GetCallerIdentityCommand({})), /stop here/);
      assert.strictEqual(sentTo, "https://sts.us-east-1.amazonaws.com");
      assert.strictEqual(await client.config.region(), REGION);
      client.destroy();
    } finally {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  });

  it("docs/verify.md names every variable verify reads, and its input limit", () => {
    const section = fs.readFileSync(path.join(REPO, "docs/verify.md"), "utf8");
    for (const name of Object.keys(ENV_VARS)) assert.ok(section.includes(`\`${name}\``), `docs/verify.md does not name ${name}`);
    assert.ok(section.includes(`${MAX_INPUT_BYTES / 1024} KiB`));
    assert.ok(section.includes(`SP_API_VERIFY_TIMEOUT_MS\` (${DEFAULT_REQUEST_TIMEOUT_MS})`));
  });

  it("names a network error by its code, never a number or a bare Error", () => {
    const refused = Object.assign(new TypeError("fetch failed"), {
      cause: Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:1"), { code: "ECONNREFUSED" }),
    });
    assert.strictEqual(networkErrorCode(refused), "ECONNREFUSED");
    assert.strictEqual(networkErrorCode(new DOMException("The operation was aborted due to timeout", "TimeoutError")), "TimeoutError");
    assert.strictEqual(networkErrorCode(Object.assign(new TypeError("fetch failed"), { cause: new Error("bad port") })), "network error");
  });

  it("parses the command line", () => {
    assert.deepStrictEqual(parseArgs([]), { kind: "run", file: undefined, expectUser: undefined, json: false });
    assert.deepStrictEqual(parseArgs(["-"]), { kind: "run", file: undefined, expectUser: undefined, json: false });
    assert.deepStrictEqual(parseArgs(["c.hjson", "--expect-user", "bob"]), { kind: "run", file: "c.hjson", expectUser: "bob", json: false });
    assert.deepStrictEqual(parseArgs(["--expect-user=bob"]), { kind: "run", file: undefined, expectUser: "bob", json: false });
    assert.strictEqual(parseArgs(["--expect-user"]).kind, "error");
    assert.strictEqual(parseArgs(["--debug"]).kind, "error");
    assert.strictEqual(parseArgs(["a", "b"]).kind, "error");
    assert.strictEqual(parseArgs(["--help"]).kind, "help");
  });

  it("backs off 1, 2, 4, 8, 10, 10... seconds within a one-minute budget", () => {
    const waits = backoffSchedule(DEFAULT_RETRY);
    assert.deepStrictEqual(waits.slice(0, 6), [1000, 2000, 4000, 8000, 10_000, 10_000]);
    assert.strictEqual(
      waits.reduce((a, b) => a + b, 0),
      60_000,
    );
    assert.deepStrictEqual(backoffSchedule({ ...DEFAULT_RETRY, budgetMs: 0 }), []);
  });

  it("scrubs known secrets (also URL-encoded), token shapes, and masks key ids", () => {
    const r = new Redactor();
    r.addSecret("se/cr+et=value");
    r.addKeyId("AKIAIOSFODNN7EXAMPLE");
    const scrubbed = r.scrub("a se/cr+et=value b se%2Fcr%2Bet%3Dvalue c Atza|abc/def d AKIAIOSFODNN7EXAMPLE");
    assert.strictEqual(scrubbed, "a [redacted] b [redacted] c [redacted] d AKIA…MPLE");
  });
});
