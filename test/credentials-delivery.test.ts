/**
 * npm run credentials: delivering the block into job configs (--into), checking them (--check), and writing
 * the block to a file. The fixtures (test/fixtures/jobs) are job configs as the connector's docs show them:
 * JSON with input.credentials, HJSON with comments, two customers in one file, a named credential, a file
 * that does not parse, a directory tree. Every test works on a copy.
 * What written files hold is read back with the hjson package, JSON.parse and Debian's hjson-go (hjson-cli;
 * .ci/run sets REQUIRE_HJSON_GO=1, so there it is never skipped).
 */
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as Hjson from "hjson";
import { CREDENTIAL_FIELDS, CredentialValues, ENCRYPTED_SECRET_PLACEHOLDER, PLACEHOLDERS, renderCredentials } from "../src/credentials";
import { blockAsJson, blockFromOutputs, blockValues } from "../commands/credentials/block";
import { main, parseArgs } from "../commands/credentials/cli";
import { fieldChanges, findCredentials, FoundObject, planObject, ROTATED_FIELDS, StackIdentity } from "../commands/credentials/decide";
import { DocNode, formatOf, parseDocument, plainValue } from "../commands/credentials/documents";
import { applyValueEdits } from "../commands/credentials/edit";
import { HjsonSyntaxError, parseHjsonSpans } from "../commands/credentials/hjson-spans";
import { checkTargets, DeliveryBlock, deliverBlock, DeliveryReport } from "../commands/credentials/run";
import { FakePulumi } from "./fake-pulumi";
import { runThroughNpm } from "./through-npm";

const ROOT = path.resolve(__dirname, "..");
const FIXTURES = path.join(__dirname, "fixtures", "jobs");
const ROLE = "arn:aws:iam::111111111111:role/SellingPartnerAPI";
const CLIENT_ID = "amzn1.application-oa2-client.0123456789abcdef0123456789abcdef";

/** The values the fixtures hold: this stack's old ones, and another customer's. */
const OLD = {
  aws_access_key_id: "AKIAOLDKEYAAAAAAAAAA",
  aws_secret_access_key: "oldSecretAccessKeyForAcme0000000000000000",
  client_secret: "amzn1.oa2-cs.v1.0ld0ld0ld0ld0ld0ld0ld0ld0ld0ld0ld0ld0ld0ld0ld0ld",
  refresh_token: "Atzr|IwEBIOldRefreshTokenOfAcme",
};
/** The stack: its app, its role, its new key and the previous one (the fixtures' AKIAOLD...). */
const IDENTITY: StackIdentity = { roleArn: ROLE, lwaClientId: CLIENT_ID, keyIds: ["AKIANEWKEYCCCCCCCCCC", OLD.aws_access_key_id] };
const GLOBEX_SECRETS = [
  "globexSecretAccessKey00000000000000000000",
  "amzn1.oa2-cs.v1.610be7610be7610be7610be7610be7610be7610be7610be7",
  "Atzr|IwEBIGlobexRefreshToken",
];

/** The block's new values, with characters that break naive quoting in every secret (as test/credentials.test.ts). */
const hostile: CredentialValues = {
  region: "us-east-1",
  role_arn: ROLE,
  aws_access_key_id: "AKIANEWKEYCCCCCCCCCC",
  aws_secret_access_key: '0leading/digit+plus=eq#hash|pipe:colon{brace}"quote\\backslash',
  client_id: CLIENT_ID,
  client_secret: "# looks like a comment // and this too /* and this */ $& $1 $$ '''",
  refresh_token: "Atzr|IwEB'single'\"double\"\ttab\nnewline\u2028sep ünïcödé {[]}, trailing space ",
};
const tricky: CredentialValues[] = [
  hostile,
  { ...hostile, aws_secret_access_key: "1234567890123456789012345678901234567890" }, // a number if unquoted
  { ...hostile, client_secret: "true" }, // a boolean if unquoted
  { ...hostile, client_secret: "null" },
  { ...hostile, refresh_token: "'''" }, // opens a multi-line string if unquoted
];

function blockOf(values: CredentialValues): DeliveryBlock {
  return { hjson: "", values, fields: CREDENTIAL_FIELDS, roleArn: ROLE, lwaClientId: CLIENT_ID, keyIds: [OLD.aws_access_key_id] };
}

/** The fields a rotation writes into an object holding the stack's app and key: the key pair and client_secret. */
const KEY_AND_APP = ["aws_access_key_id", "aws_secret_access_key", "client_secret"] as const;

/** `before` with only `fields` taken from `values`: what the field rule leaves in an object. */
function withOnly(before: Record<string, unknown>, values: CredentialValues, fields: readonly (keyof CredentialValues)[]): Record<string, unknown> {
  const out = { ...before };
  for (const field of fields) out[field] = values[field];
  return out;
}

function allSecrets(values: CredentialValues = hostile): string[] {
  return [values.aws_secret_access_key, values.client_secret, values.refresh_token, ...Object.values(OLD).slice(1), ...GLOBEX_SECRETS].filter(
    (s) => s.length >= 8,
  );
}

/** No secret, raw or JSON-escaped, in any line printed. */
function assertNoSecrets(lines: readonly string[], secrets: readonly string[] = allSecrets()): void {
  const text = lines.join("\n");
  for (const secret of secrets) {
    assert.ok(!text.includes(secret), "a secret was printed");
    assert.ok(!text.includes(JSON.stringify(secret).slice(1, -1)), "a secret was printed, escaped");
  }
}

function hjsonGo(test: Mocha.Context): string {
  if (!spawnSync("hjson-cli", ["-h"]).error) return "hjson-cli";
  if (process.env.REQUIRE_HJSON_GO === "1") assert.fail("hjson-cli is required here (apt-get install hjson-go)");
  test.skip();
}

/** The fixture job that names no role yet (tree/eu/new-job.hjson): its refresh token is what makes it a stack's. */
const NEW_JOB = "tree/eu/new-job.hjson";

/** Gives the new job (role still a placeholder) this refresh token: it is then the stack's whose token it is. */
function seedRefreshToken(dir: string, token: string): void {
  const file = path.join(dir, NEW_JOB);
  const text = fs.readFileSync(file, "utf8");
  assert.match(text, /^ *refresh_token: /m);
  // To the end of the line: a written value may hold U+2028, which `.` and `$` take for one.
  fs.writeFileSync(
    file,
    text.replace(/^( *refresh_token: )[^\n]*/m, (_, key: string) => key + JSON.stringify(token)),
  );
}

/** A copy of the fixtures, the new job holding the refresh token of the stack that delivers `values`. */
function copyFixtures(refreshToken: string = hostile.refresh_token): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sp-api-iam-jobs-"));
  fs.cpSync(FIXTURES, dir, { recursive: true });
  seedRefreshToken(dir, refreshToken);
  return dir;
}

/** Every entry under dir with its bytes, mode and inode: what "writes nothing" and "no temporary file" compare. */
function snapshot(dir: string): Map<string, { bytes: string; mode: number; ino: number }> {
  const out = new Map<string, { bytes: string; mode: number; ino: number }>();
  const walk = (d: string) => {
    for (const entry of fs.readdirSync(d, { withFileTypes: true })) {
      const file = path.join(d, entry.name);
      const stat = fs.lstatSync(file);
      if (entry.isDirectory()) walk(file);
      out.set(path.relative(dir, file), { bytes: entry.isFile() ? fs.readFileSync(file, "latin1") : "", mode: stat.mode, ino: stat.ino });
    }
  };
  walk(dir);
  return out;
}

async function deliver(values: CredentialValues, dir: string, targets: string[], dryRun = false): Promise<{ report: DeliveryReport; lines: string[] }> {
  const lines: string[] = [];
  const report = await deliverBlock(blockOf(values), targets, { dryRun, print: (l) => lines.push(l), baseDir: dir });
  return { report, lines };
}

async function check(values: CredentialValues, dir: string, targets: string[]): Promise<{ report: DeliveryReport; lines: string[] }> {
  const lines: string[] = [];
  const report = await checkTargets(blockOf(values), targets, { print: (l) => lines.push(l), baseDir: dir });
  return { report, lines };
}

function parsed(text: string, file: string): DocNode {
  const result = parseDocument(text, formatOf(file));
  assert.ok(result.ok, `${file} parses`);
  return result.root;
}

/**
 * The text with the values of the fields a rotation writes blanked, in objects of the stack's app or keys: what must
 * not change outside them (refresh_token, region and client_id included).
 */
function outsideValues(text: string, file: string): string {
  const spans = findCredentials(parsed(text, file))
    .objects.filter((o) => planObject(o, IDENTITY, hostile).shares.length > 0)
    .flatMap((o) => ROTATED_FIELDS.flatMap((f) => (o.fields[f] ? [[o.fields[f].start, o.fields[f].end] as const] : [])))
    .sort((a, b) => b[0] - a[0]);
  let out = text;
  for (const [start, end] of spans) out = `${out.slice(0, start)}<value>${out.slice(end)}`;
  return out;
}

function read(dir: string, file: string): string {
  return fs.readFileSync(path.join(dir, file), "utf8");
}

describe("credentials delivery: the HJSON reader that keeps where values are", () => {
  const corpus = [
    "a: 1",
    "a: 01\nb: -1.5e3\nc: 1.\nd: 0x10\ne: 1 # one\nf: 2, g: 3 // three\nh: -\ni: 4 /* four */",
    "t: true\nf: false # no\nn: null, x: nullish\ny: true story",
    "q: quoteless # not a comment\nr: with 'quotes' and \"more\"  \ns: a,b,c]\n",
    '{"json": "only", "n": [1, 2, {"x": null}], "e": {}, "l": []}',
    "{\r\n  crlf: yes\r\n  m:\r\n    '''\r\n    two\r\n    lines\r\n    '''\r\n}\r\n",
    "k: '''one line'''\nl: '''\n  indented\n    more\n  '''\n",
    "'quoted key': 'single \\' \\\" \\u00e9 \\n'\n\"k2\": \"\\ud83d\\ude00 \\/ \\b\\f\\r\\t\"",
    "# comment only before\n// and this\n/* block\n   comment */\nkey: value\n/* after */",
    "arr: [\n  1\n  two\n  'three'\n  [4, [5]]\n  { six: 6 }\n]",
    'a: { b: { c: { d: [ { e: "deep" } ] } } }',
    "trailing: [1, 2,], obj: { x: 1, },",
    '"just a string"',
    "42",
    "empty:",
    "key : spaced\n  nested :\n    {\n      x: 1\n    }",
    fs.readFileSync(path.join(ROOT, "src", "credentials.template.hjson"), "utf8").replace(/\{\{(\w+)\}\}/g, '"$1"'),
  ];
  const fixtureFiles = ["orders.json", "reports.hjson", "two-customers.json", "named-credential.json", "tree/eu/new-job.hjson", "tree/na/finance-crlf.json"];

  it("reads every fixture and a corpus of HJSON forms exactly as the hjson package does", () => {
    for (const text of [...corpus, ...fixtureFiles.map((f) => fs.readFileSync(path.join(FIXTURES, f), "utf8"))]) {
      assert.deepEqual(plainValue(parseHjsonSpans(text)), Hjson.parse(text), JSON.stringify(text.slice(0, 60)));
    }
  });

  it("agrees with the hjson package on thousands of mutated documents (the same value, or both refuse), and its spans take a rewrite", () => {
    // A fixed seed: the same documents on every run, so a failure reproduces.
    let seed = 0x5eed;
    const random = () => {
      seed = (seed + 0x6d2b79f5) | 0;
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
    const pieces = ["{", "}", "[", "]", ",", ":", '"', "'", "'''", "#", "//", "/*", "*/", "\n", "\r\n", " ", "\\", "a", "1", "-", "true", "null", "\t", "é"];
    const outcome = (read: () => unknown) => {
      try {
        return { value: read() };
      } catch {
        return { refused: true };
      }
    };
    let documents = 0;
    let rewrites = 0;
    for (const base of [...corpus, ...fixtureFiles.map((f) => fs.readFileSync(path.join(FIXTURES, f), "utf8"))]) {
      for (let i = 0; i < 150; i++) {
        let text = base;
        for (let edits = 1 + Math.floor(random() * 3); edits > 0; edits--) {
          const at = Math.floor(random() * (text.length + 1));
          if (random() < 0.4) text = text.slice(0, at) + text.slice(at + 1);
          else text = text.slice(0, at) + pieces[Math.floor(random() * pieces.length)] + text.slice(at);
        }
        const ours = outcome(() => parseHjsonSpans(text));
        assert.deepEqual(
          "value" in ours ? { value: plainValue(ours.value as DocNode) } : ours,
          outcome(() => Hjson.parse(text)),
          JSON.stringify(text),
        );
        documents++;
        if (!("value" in ours)) continue;
        // What --into does: each string rewritten JSON-quoted over its span. The document must mean the same.
        const strings: { start: number; end: number; value: string }[] = [];
        const walk = (node: DocNode) => {
          if (node.kind === "object") node.members.forEach((m) => walk(m.value));
          else if (node.kind === "array") node.items.forEach(walk);
          else if (node.kind === "string") strings.push(node);
        };
        walk(ours.value as DocNode);
        let rewritten = text;
        for (const node of strings.sort((a, b) => b.start - a.start)) {
          rewritten = rewritten.slice(0, node.start) + JSON.stringify(node.value) + rewritten.slice(node.end);
        }
        assert.deepEqual(Hjson.parse(rewritten), Hjson.parse(text), JSON.stringify(text));
        rewrites++;
      }
    }
    assert.ok(documents > 3000 && rewrites > 1000, `${documents} documents, ${rewrites} rewritten`);
  });

  it("refuses what the hjson package refuses, naming the line of the fault", () => {
    const bad: [string, number][] = [
      ["{a: 1", 1],
      ['{\n  a: "unterminated\n}', 2],
      ["[1,\n2", 2],
      ["{a: 1}}", 1],
      ["{\n  x: '''\n never closed", 3],
      ["{ a b: 1 }", 1],
      ["{\n\n  : 1\n}", 3],
      ['{"a": "\\q"}', 1],
    ];
    for (const [text, line] of bad) {
      assert.throws(() => Hjson.parse(text), Error, `hjson accepts ${JSON.stringify(text)}`);
      assert.throws(
        () => parseHjsonSpans(text),
        (error: unknown) => error instanceof HjsonSyntaxError && error.line === line,
        JSON.stringify(text),
      );
    }
  });

  it("gives each value the span of its own characters, and nothing more", () => {
    const text = fs.readFileSync(path.join(FIXTURES, "reports.hjson"), "utf8");
    const strings: DocNode[] = [];
    const walk = (node: DocNode) => {
      if (node.kind === "object") node.members.forEach((m) => walk(m.value));
      else if (node.kind === "array") node.items.forEach(walk);
      else strings.push(node);
    };
    walk(parseHjsonSpans(text));
    assert.ok(strings.length >= 12);
    for (const node of strings) {
      const own = text.slice(node.start, node.end);
      // A value's own characters are that value: a quoteless one its text, a quoted one read alone.
      if (node.kind === "string" && node.form === "multiline") assert.match(own, /^'''[^]*'''$/);
      else if (node.kind === "string" || node.kind === "literal")
        assert.deepEqual(node.kind === "string" && node.form === "quoteless" ? own : Hjson.parse(own), node.value, own);
    }
  });
});

describe("credentials delivery: whose credentials a job config holds", () => {
  function objectsOf(file: string): FoundObject[] {
    return findCredentials(parsed(fs.readFileSync(path.join(FIXTURES, file), "utf8"), file)).objects;
  }

  it("finds the connector's credentials wherever they sit, and ties them to the stack by its app and its keys", () => {
    const objects = objectsOf("two-customers.json");
    assert.deepEqual(
      objects.map((o) => o.path),
      [
        ["jobs", 0, "input", "credentials"],
        ["jobs", 1, "input", "credentials"],
      ],
    );
    // Both hold the same LWA client id (one app serving two sellers): both share the app; only acme's holds the key.
    assert.deepEqual(
      objects.map((o) => planObject(o, IDENTITY, hostile).shares),
      [["app", "key"], ["app"]],
    );
    assert.deepEqual(
      objectsOf("reports.hjson").map((o) => [o.path, planObject(o, IDENTITY, hostile).shares]),
      [
        [
          ["input", "credentials"],
          ["app", "key"],
        ],
      ],
    );
  });

  it("never ties an object by its refresh token or its role alone", () => {
    const object = (fields: Record<string, string>) => fieldChanges(fields, IDENTITY, hostile);
    const otherApp = "amzn1.application-oa2-client.ffffffffffffffffffffffffffffffff";
    // The stack's app: whatever the refresh token (another seller, another marketplace, a placeholder).
    for (const token of [OLD.refresh_token, GLOBEX_SECRETS[2], "<your-refresh-token>"]) {
      assert.deepEqual(object({ client_id: CLIENT_ID, client_secret: "x", refresh_token: token }).shares, ["app"]);
    }
    // The stack's role, but another app and another key: one role may serve several sellers; not the stack's.
    assert.deepEqual(object({ role_arn: ROLE, client_id: otherApp, aws_access_key_id: "AKIAGLOBEXKEYBBBBBBB", client_secret: "x" }).shares, []);
    // A key of the stack (the previous one) under another app: the key pair is the stack's, the secret is not.
    const plan = object({ role_arn: ROLE, client_id: otherApp, aws_access_key_id: OLD.aws_access_key_id, aws_secret_access_key: "y", client_secret: "x" });
    assert.deepEqual(plan.shares, ["key"]);
    assert.deepEqual(
      plan.changes.map((c) => c.field),
      ["aws_access_key_id", "aws_secret_access_key"],
    );
    // A role the stack recorded as its earlier one: that role alone is rewritten.
    const former = "arn:aws:iam::111111111111:role/manual/SellingPartnerAPI";
    const moved = fieldChanges(
      { role_arn: former, client_id: otherApp, aws_access_key_id: "AKIAGLOBEXKEYBBBBBBB" },
      { ...IDENTITY, formerRoleArns: [former] },
      hostile,
    );
    assert.deepEqual(
      moved.changes.map((c) => [c.field, c.to]),
      [["role_arn", ROLE]],
    );
    // A stack without an LWA client id or keys ties nothing.
    assert.deepEqual(fieldChanges({ client_id: CLIENT_ID, client_secret: "x" }, { roleArn: ROLE }, hostile).shares, []);
  });

  it("reports a credentials that is a string as a named credential", () => {
    const findings = findCredentials(parsed(fs.readFileSync(path.join(FIXTURES, "named-credential.json"), "utf8"), "x.json"));
    assert.deepEqual(findings.named, [{ path: ["input", "credentials"], name: "acme-sp-api" }]);
    assert.deepEqual(findings.objects, []);
  });

  it("counts an object as credentials only with two of the connector's fields besides region", () => {
    const root = parseHjsonSpans('a: { region: "x", endpoint: "y" }\nb: { region: "x", client_id: "y" }\nc: { client_id: "y", client_secret: "z" }');
    assert.deepEqual(
      findCredentials(root).objects.map((o) => o.path),
      [["c"]],
    );
  });
});

describe("credentials delivery: what --into writes, what --check says (pure)", () => {
  function objectFrom(text: string): FoundObject {
    return findCredentials(parseHjsonSpans(text)).objects[0];
  }
  const fixtureObject = () => objectFrom(fs.readFileSync(path.join(FIXTURES, "orders.json"), "utf8"));

  it("writes each field the rule gives the stack that differs, and never a placeholder over a real value", () => {
    const plan = planObject(fixtureObject(), IDENTITY, { ...hostile, ...PLACEHOLDERS, client_id: CLIENT_ID });
    assert.deepEqual(
      plan.changes.map((c) => c.field),
      ["aws_access_key_id", "aws_secret_access_key"],
    );
    assert.deepEqual(
      plan.kept.map((k) => k.field),
      ["client_secret"],
    );
  });

  it("changes an access key id only together with its secret (a PGP block has none)", () => {
    const plan = planObject(fixtureObject(), IDENTITY, { ...hostile, aws_secret_access_key: ENCRYPTED_SECRET_PLACEHOLDER });
    assert.ok(!plan.changes.some((c) => c.field.startsWith("aws_")), "neither half of the key pair is written");
    assert.equal(
      plan.kept.find((k) => k.field === "aws_access_key_id")!.reason,
      "aws_access_key_id would change, and aws_secret_access_key cannot be written with it (the block has no secret for the new access key)",
    );
  });

  it("never rewrites refresh_token, region or client_id; another app's block writes no client_secret", () => {
    const otherApp = "amzn1.application-oa2-client.ffffffffffffffffffffffffffffffff";
    const eu = { ...hostile, region: "eu-west-1", refresh_token: "Atzr|IwEBIAnotherAuthorization" };
    assert.deepEqual(
      planObject(fixtureObject(), IDENTITY, eu).changes.map((c) => c.field),
      ["aws_access_key_id", "aws_secret_access_key", "client_secret"],
    );
    assert.deepEqual(
      planObject(fixtureObject(), { ...IDENTITY, lwaClientId: otherApp }, { ...eu, client_id: otherApp }).changes.map((c) => c.field),
      ["aws_access_key_id", "aws_secret_access_key"],
    );
  });

  it("does not add a field the object lacks", () => {
    const plan = fieldChanges({ role_arn: ROLE, client_id: CLIENT_ID, client_secret: "y" }, IDENTITY, hostile);
    assert.deepEqual(
      plan.changes.map((c) => c.field),
      ["client_secret"],
    );
  });

  it("--check: current when every field the stack owns holds its value; otherwise which are stale, and how, without a secret", () => {
    const object = fixtureObject();
    const block = { ...hostile, aws_access_key_id: "AKIANEWKEYCCCCCCCCCC" };
    const result = planObject(object, IDENTITY, block);
    assert.deepEqual(
      result.stale.map((s) => s.field),
      ["aws_access_key_id", "aws_secret_access_key", "client_secret"],
    );
    const why = Object.fromEntries(result.stale.map((s) => [s.field, s.why]));
    assert.equal(why.aws_access_key_id, "another access key, AKIA…AAAA, not the stack's newest AKIA…CCCC");
    assert.equal(why.client_secret, "a different LWA client secret");
    assertNoSecrets(Object.values(why));
    const current = { ...hostile, ...OLD };
    assert.deepEqual(planObject(object, IDENTITY, current).stale, []);
    assert.deepEqual(
      planObject(object, IDENTITY, { ...current, ...PLACEHOLDERS }).kept.map((k) => [k.field, k.placeholder]),
      [["client_secret", true]],
    );
  });

  it("the field rule's invariants over 5000 random objects and blocks: never a token, region or client id; nothing in another's; once is enough", () => {
    // A small seeded generator (no dependency): each field absent, the stack's value, another's, a placeholder or not a string.
    let seed = 21;
    const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)]!;
    const otherApp = "amzn1.application-oa2-client.ffffffffffffffffffffffffffffffff";
    const pool: Record<string, unknown[]> = {
      region: ["us-east-1", "eu-west-1", "<your-region>", 7],
      role_arn: [ROLE, "arn:aws:iam::222222222222:role/Other", "<your-role-arn>"],
      aws_access_key_id: ["AKIANEWKEYCCCCCCCCCC", OLD.aws_access_key_id, "AKIAGLOBEXKEYBBBBBBB", "<your-aws-access-key-id>", null],
      aws_secret_access_key: [hostile.aws_secret_access_key, OLD.aws_secret_access_key, GLOBEX_SECRETS[0], ""],
      client_id: [CLIENT_ID, otherApp, "<your-client-id>"],
      client_secret: [hostile.client_secret, OLD.client_secret, GLOBEX_SECRETS[1], "<your-secret>", { nested: true }],
      refresh_token: [OLD.refresh_token, GLOBEX_SECRETS[2], "<your-refresh-token>"],
    };
    for (let i = 0; i < 5000; i++) {
      const object: Record<string, unknown> = {};
      for (const field of CREDENTIAL_FIELDS) if (next() < 0.85) object[field] = pick(pool[field]!);
      const values: CredentialValues = {
        ...hostile,
        ...(next() < 0.2 ? { aws_secret_access_key: ENCRYPTED_SECRET_PLACEHOLDER } : {}),
        ...(next() < 0.2 ? PLACEHOLDERS : {}),
      };
      const plan = fieldChanges(object, IDENTITY, values);
      const changed = plan.changes.map((c) => c.field);
      for (const field of ["refresh_token", "region", "client_id"] as const)
        assert.ok(!changed.includes(field), `${field} rewritten: ${JSON.stringify(object)}`);
      if (plan.shares.length === 0) assert.deepEqual([changed, plan.stale], [[], []], "nothing in another customer's object");
      if (changed.includes("client_secret")) assert.equal(object.client_id, CLIENT_ID);
      if (changed.some((f) => f.startsWith("aws_") || f === "role_arn")) assert.ok(IDENTITY.keyIds!.includes(object.aws_access_key_id as string));
      if (changed.includes("aws_access_key_id"))
        assert.ok(changed.includes("aws_secret_access_key") || object.aws_secret_access_key === values.aws_secret_access_key, "the pair goes together");
      for (const change of plan.changes) assert.ok(!/^<[^<>]*>$/.test(change.to), "never a placeholder");
      const after = { ...object, ...Object.fromEntries(plan.changes.map((c) => [c.field, c.to])) };
      assert.deepEqual(fieldChanges(after, IDENTITY, values).changes, [], "a second delivery writes nothing");
    }
  });

  it("takes the block from a stack's outputs, and says what to run when there is none", () => {
    const hjson = renderCredentials(hostile, "na");
    assert.deepEqual(blockFromOutputs("acme", { credentials: { value: hjson }, roleArn: { value: ROLE } }), {
      hjson,
      values: hostile,
      fields: CREDENTIAL_FIELDS,
      roleArn: ROLE,
      lwaClientId: CLIENT_ID,
    });
    assert.deepEqual(
      blockFromOutputs("acme", { credentials: { value: hjson }, accessKeyIds: { value: ["AKIANEWKEYCCCCCCCCCC", OLD.aws_access_key_id] } }).keyIds,
      ["AKIANEWKEYCCCCCCCCCC", OLD.aws_access_key_id],
    );
    const fresh = blockFromOutputs("acme", { credentials: { value: renderCredentials({ ...hostile, ...PLACEHOLDERS }, "na") } });
    assert.equal(fresh.lwaClientId, undefined, "a placeholder client id identifies no one");
    assert.throws(() => blockFromOutputs("acme", {}), { message: "Stack acme has no credentials output yet: run `npm run up -- acme` first." });
    assert.throws(() => blockValues('credentials: { region: "us-east-1" }'), { message: "the stack's credentials output lacks role_arn" });
  });

  it("refuses to hand back an edit that would not read back as exactly the intended change", () => {
    const text = '{"a": {"role_arn": "x", "client_id": "y"}}';
    const root = parseDocument(text, "json");
    assert.ok(root.ok);
    const [object] = findCredentials(root.root).objects;
    // A node from another text: its span points at the wrong characters.
    const stray = { ...object.fields.client_id!, start: 1, end: 4 };
    assert.throws(() => applyValueEdits(text, "hjson", [{ path: ["a"], field: "client_id", node: stray, value: "z" }]), /did not read back/);
  });
});

describe("credentials delivery: --into and --check on job config files", () => {
  let dir: string;
  beforeEach(() => (dir = copyFixtures()));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("--into changes only the fields the stack rotated, and in JSON only the bytes of their values", async () => {
    const files = ["orders.json", "two-customers.json", "tree/na/finance-crlf.json"];
    const before = Object.fromEntries(files.map((f) => [f, read(dir, f)]));
    const { report, lines } = await deliver(hostile, dir, files);
    assert.equal(report.exitCode, 0, lines.join("\n"));
    assert.deepEqual([report.updated, report.otherCustomers], [4, 0]);
    for (const file of files) {
      const after = read(dir, file);
      assert.notEqual(after, before[file], `${file} was updated`);
      assert.equal(outsideValues(after, file), outsideValues(before[file], file), `${file}: every byte outside the values is the same`);
    }
    // Another seller of the same app: its client_secret is the app's; its token, role and key are its own.
    const [acmeBefore, globexBefore] = JSON.parse(before["two-customers.json"]).jobs.map((j: any) => j.input.credentials);
    const document = JSON.parse(read(dir, "two-customers.json"));
    assert.deepEqual(document.jobs[0].input.credentials, withOnly(acmeBefore, hostile, KEY_AND_APP));
    assert.deepEqual(document.jobs[1].input.credentials, withOnly(globexBefore, hostile, ["client_secret"]));
    assert.deepEqual(
      JSON.parse(read(dir, "tree/na/finance-crlf.json")).input.credentials,
      withOnly(JSON.parse(before["tree/na/finance-crlf.json"]).input.credentials, hostile, KEY_AND_APP),
    );
    assert.match(read(dir, "tree/na/finance-crlf.json"), /^\{\r\n\t"name":"acme-finance" ,\r\n/, "CRLF and odd spacing kept");
    assertNoSecrets(lines);
  });

  tricky.forEach((values, i) => {
    it(`--into HJSON keeps every comment and all else; values read back exact in hjson and JSON (case ${i + 1})`, async () => {
      const files = ["reports.hjson", "tree/eu/new-job.hjson", "orders.json"];
      const before = Object.fromEntries(files.map((f) => [f, read(dir, f)]));
      const { report, lines } = await deliver(values, dir, files);
      assert.equal(report.exitCode, 0, lines.join("\n"));
      assert.equal(report.updated, 3);
      for (const file of files) {
        const after = read(dir, file);
        const outside = (text: string) => outsideValues(text, file);
        assert.equal(outside(after), outside(before[file]), `${file}: nothing else changed`);
        const parse = (text: string) => (file.endsWith(".json") ? JSON.parse(text) : Hjson.parse(text)).input.credentials;
        // The new job's keys are placeholders, no key of the stack: only the app's secret goes in.
        const fields = file === NEW_JOB ? (["client_secret"] as const) : KEY_AND_APP;
        assert.deepEqual(parse(after), withOnly(parse(before[file]), values, fields), `${file} reads back exact`);
      }
      const reports = read(dir, "reports.hjson");
      for (const comment of [
        "# Nightly inventory report for Acme (North America).",
        "// the job's name, quoteless",
        "/* the report the connector requests,\n       one per run */",
        "# the AWS region requests are signed for",
        "# rotated quarterly",
        "// 180 days",
        "# trailing comment",
      ]) {
        assert.ok(reports.includes(comment), `comment kept: ${comment}`);
      }
      assertNoSecrets(lines, allSecrets(values));
    });
  });

  it("written HJSON reads back exact in Debian's hjson-go (hjson-cli), hostile characters included", async function () {
    const cli = hjsonGo(this);
    const before = Object.fromEntries(["reports.hjson", NEW_JOB].map((f) => [f, Hjson.parse(read(dir, f)).input.credentials]));
    for (const values of tricky) {
      await deliver(values, dir, ["reports.hjson", "tree"]);
      for (const file of ["reports.hjson", NEW_JOB]) {
        const json = execFileSync(cli, ["-c", path.join(dir, file)], { encoding: "utf8" });
        const fields = file === NEW_JOB ? (["client_secret"] as const) : KEY_AND_APP;
        assert.deepEqual(JSON.parse(json).input.credentials, withOnly(before[file], values, fields), `${file}, ${JSON.stringify(values.client_secret)}`);
      }
    }
  });

  it("leaves a file that does not parse untouched, names it and its line, finishes the others, exits 1", async () => {
    const malformed = read(dir, "malformed.json");
    fs.writeFileSync(path.join(dir, "broken.hjson"), '# fine so far\nname: x\ninput: {\n  credentials: {\n    role_arn: "unterminated\n  }\n}\n');
    const { report, lines } = await deliver(hostile, dir, ["malformed.json", "broken.hjson", "orders.json"]);
    assert.equal(report.exitCode, 1);
    assert.deepEqual(report.failed, ["malformed.json", "broken.hjson"]);
    assert.equal(read(dir, "malformed.json"), malformed);
    assert.ok(lines.includes("malformed.json: line 8: not valid JSON (PropertyNameExpected); left as it is"), lines.join("\n"));
    assert.ok(
      lines.some((l) => l.startsWith("broken.hjson: line 5: not valid HJSON")),
      lines.join("\n"),
    );
    assert.equal(JSON.parse(read(dir, "orders.json")).input.credentials.client_secret, hostile.client_secret, "the file after them was done");
    assert.match(
      lines.at(-1)!,
      /^Summary: 3 files scanned; objects: 1 updated, 0 current, 0 stale, 0 another customer's; 0 named credentials; 2 files not processed\.$/,
    );
  });

  it("a directory means its JSON and HJSON files, recursively; named credentials come with the instruction", async () => {
    const { report, lines } = await deliver(hostile, dir, ["."]);
    assert.equal(report.filesScanned, 7, "notes.txt is not a job config");
    assert.deepEqual(report.failed, ["malformed.json"]);
    assert.deepEqual([report.updated, report.current, report.otherCustomers, report.named], [6, 0, 0, 1]);
    assert.ok(
      lines.includes(
        "named-credential.json: input.credentials: named credential \"acme-sp-api\": if it holds this stack's credentials, update it in the product's Credentials page (`npm run credentials -- --format json <file>` writes its content)",
      ),
      lines.join("\n"),
    );
    // Another seller of the same app: the app's secret only.
    assert.ok(lines.includes("two-customers.json: jobs[1].input.credentials: updated client_secret"), lines.join("\n"));
    assert.equal(
      lines.at(-1),
      "Summary: 7 files scanned; objects: 6 updated, 0 current, 0 stale, 0 another customer's; 1 named credential; 1 file not processed.",
    );
    assertNoSecrets(lines);
  });

  it("--dry-run writes nothing, and says which fields would change with values masked", async () => {
    const before = snapshot(dir);
    const { report, lines } = await deliver(hostile, dir, ["."], true);
    assert.deepEqual(snapshot(dir), before);
    assert.equal(report.updated, 6);
    assert.ok(
      lines.includes("orders.json: input.credentials: would update aws_access_key_id (AKIA…CCCC), aws_secret_access_key (secret), client_secret (secret)"),
      lines.join("\n"),
    );
    assert.match(lines.at(-1)!, /objects: 6 to update/);
    assertNoSecrets(lines);
  });

  it("--check writes nothing; exits 1 while any of this stack's credentials is stale, 0 once all are current", async () => {
    const targets = ["orders.json", "reports.hjson", "two-customers.json", "tree"];
    const before = snapshot(dir);
    const stale = await check(hostile, dir, targets);
    assert.deepEqual(snapshot(dir), before, "--check wrote nothing");
    assert.equal(stale.report.exitCode, 1);
    assert.deepEqual([stale.report.stale, stale.report.current, stale.report.otherCustomers], [6, 0, 0]);
    assert.ok(
      stale.lines.includes(
        "orders.json: input.credentials: stale: aws_access_key_id (another access key, AKIA…AAAA, not the stack's newest AKIA…CCCC); " +
          "aws_secret_access_key (a different access key secret); client_secret (a different LWA client secret)",
      ),
      stale.lines.join("\n"),
    );
    assert.ok(
      stale.lines.includes("two-customers.json: jobs[1].input.credentials: stale: client_secret (a different LWA client secret)"),
      stale.lines.join("\n"),
    );
    assertNoSecrets(stale.lines);

    await deliver(hostile, dir, targets);
    const delivered = snapshot(dir);
    const current = await check(hostile, dir, targets);
    assert.deepEqual(snapshot(dir), delivered);
    assert.equal(current.report.exitCode, 0, current.lines.join("\n"));
    assert.deepEqual([current.report.stale, current.report.current], [0, 6]);
    assert.equal(current.lines.at(-1), "Summary: 5 files scanned; objects: 0 updated, 6 current, 0 stale, 0 another customer's; 0 named credentials.");

    // Only the LWA secret rotated since: that field alone is stale.
    const rotated = await check({ ...hostile, client_secret: "amzn1.oa2-cs.v1.feedfacefeedface" }, dir, ["orders.json"]);
    assert.equal(rotated.report.exitCode, 1);
    assert.ok(rotated.lines.includes("orders.json: input.credentials: stale: client_secret (a different LWA client secret)"), rotated.lines.join("\n"));
    assertNoSecrets(rotated.lines, [...allSecrets(), "amzn1.oa2-cs.v1.feedfacefeedface"]);
  });

  it("keeps each file's mode, leaves no temporary file, and does not rewrite a file with nothing to change", async () => {
    fs.chmodSync(path.join(dir, "orders.json"), 0o640);
    fs.chmodSync(path.join(dir, "reports.hjson"), 0o600);
    fs.chmodSync(path.join(dir, "tree/na/finance-crlf.json"), 0o664);
    const names = [...snapshot(dir).keys()].sort();
    await deliver(hostile, dir, ["."]);
    const first = snapshot(dir);
    assert.deepEqual([...first.keys()].sort(), names, "no file added or left behind");
    assert.equal(first.get("orders.json")!.mode & 0o777, 0o640);
    assert.equal(first.get("reports.hjson")!.mode & 0o777, 0o600);
    assert.equal(first.get("tree/na/finance-crlf.json")!.mode & 0o777, 0o664);

    const { report, lines } = await deliver(hostile, dir, ["."]);
    assert.deepEqual([report.updated, report.current], [0, 6]);
    assert.ok(lines.includes("orders.json: input.credentials: current"));
    assert.deepEqual(snapshot(dir), first, "a run with nothing to change rewrites no file (same inodes)");
  });

  it("refuses a symbolic link or a directory where a file is meant, named or found in a directory", async () => {
    const orders = read(dir, "orders.json");
    fs.symlinkSync(path.join(dir, "orders.json"), path.join(dir, "link.json"));
    fs.symlinkSync(path.join(dir, "orders.json"), path.join(dir, "tree", "eu", "linked.json"));
    const { report, lines } = await deliver(hostile, dir, ["link.json", "tree"]);
    assert.equal(report.exitCode, 1);
    assert.deepEqual(report.failed, ["link.json", "tree/eu/linked.json"]);
    assert.ok(lines.includes("link.json: a symbolic link: not followed; name the file it stands for; left as it is"), lines.join("\n"));
    assert.equal(read(dir, "orders.json"), orders, "the link's target is untouched");
    assert.ok(fs.lstatSync(path.join(dir, "link.json")).isSymbolicLink());
    assert.equal(report.updated, 2, "the tree's regular files were done");
  });

  it("reports a target that does not exist, and skips node_modules and .git", async () => {
    for (const skipped of ["node_modules", ".git"]) {
      fs.mkdirSync(path.join(dir, "tree", skipped));
      fs.copyFileSync(path.join(dir, "orders.json"), path.join(dir, "tree", skipped, "orders.json"));
    }
    const { report, lines } = await deliver(hostile, dir, ["tree", "missing.json"]);
    assert.equal(report.filesScanned, 2);
    assert.deepEqual(report.failed, ["missing.json"]);
    assert.ok(lines.includes("missing.json: not found; left as it is"));
    assert.equal(read(dir, "tree/node_modules/orders.json"), read(dir, "orders.json"));
  });

  it("leaves untouched a file that is not UTF-8, and one that gives this stack's fields twice", async () => {
    const latin1 = Buffer.concat([Buffer.from(read(dir, "orders.json").replace('"acme-orders-na"', '"acme-orders-')), Buffer.from([0xe9, 0x22, 0x0a])]);
    fs.writeFileSync(path.join(dir, "latin1.json"), latin1);
    fs.writeFileSync(
      path.join(dir, "twice.hjson"),
      `credentials: {\n  role_arn: "${ROLE}"\n  client_id: ${CLIENT_ID}\n  aws_access_key_id: AKIAOLD\n  aws_access_key_id: AKIAOLD2\n}\n`,
    );
    const twice = read(dir, "twice.hjson");
    const { report, lines } = await deliver(hostile, dir, ["latin1.json", "twice.hjson"]);
    assert.deepEqual(report.failed, ["latin1.json", "twice.hjson"]);
    assert.ok(fs.readFileSync(path.join(dir, "latin1.json")).equals(latin1));
    assert.equal(read(dir, "twice.hjson"), twice);
    assert.ok(lines.includes("latin1.json: not UTF-8 text; left as it is"), lines.join("\n"));
    assert.ok(lines.includes("twice.hjson: credentials: aws_access_key_id given twice; remove one, then run again; left as it is"), lines.join("\n"));
  });

  it("turns a block file the kit wrote for the old values into exactly the block for the new ones (its token kept)", async () => {
    const old: CredentialValues = { ...hostile, ...OLD };
    fs.writeFileSync(path.join(dir, "acme.hjson"), renderCredentials(old, "na"));
    for (const values of tricky) {
      const { report } = await deliver(values, dir, ["acme.hjson"]);
      assert.equal(report.exitCode, 0);
      assert.equal(read(dir, "acme.hjson"), renderCredentials({ ...values, refresh_token: old.refresh_token }, "na"));
    }
  });

  it("refuses a named pipe, named or found in a directory, without opening it", async function () {
    if (spawnSync("mkfifo", [path.join(dir, "pipe.json")]).status !== 0) assert.fail("mkfifo is needed for this test");
    // A pipe opened for reading blocks until a writer comes: it must never be opened.
    const { report, lines } = await deliver(hostile, dir, ["pipe.json", "."], false);
    assert.deepEqual(report.failed, ["pipe.json", "malformed.json"]);
    assert.ok(lines.includes("pipe.json: not a regular file: not followed; name the file it stands for; left as it is"), lines.join("\n"));
  });

  it("says so when no credentials of this stack were found", async () => {
    const { report, lines } = await check(hostile, dir, ["named-credential.json"]);
    assert.equal(report.exitCode, 0);
    assert.ok(lines.includes("No credentials of this stack (neither its LWA app nor one of its access keys) in the files scanned."), lines.join("\n"));
  });

  it("keeps a UTF-8 byte order mark", async () => {
    fs.writeFileSync(path.join(dir, "bom.json"), `\uFEFF${read(dir, "orders.json")}`);
    const { report } = await deliver(hostile, dir, ["bom.json"]);
    assert.equal(report.updated, 1);
    const after = read(dir, "bom.json");
    assert.ok(after.startsWith("\uFEFF{"));
    assert.deepEqual(JSON.parse(after.slice(1)).input.credentials, withOnly(JSON.parse(read(dir, "orders.json")).input.credentials, hostile, KEY_AND_APP));
  });

  it("with a PGP block (no key secret), leaves the key pair as it is and says why", async () => {
    const { report, lines } = await deliver({ ...hostile, aws_secret_access_key: ENCRYPTED_SECRET_PLACEHOLDER }, dir, ["orders.json"]);
    assert.equal(report.exitCode, 0);
    const credentials = JSON.parse(read(dir, "orders.json")).input.credentials;
    assert.equal(credentials.aws_access_key_id, OLD.aws_access_key_id);
    assert.equal(credentials.aws_secret_access_key, OLD.aws_secret_access_key);
    assert.equal(credentials.client_secret, hostile.client_secret);
    assert.match(lines[0], /^orders\.json: input\.credentials: updated client_secret \(kept aws_access_key_id: .* \(the block has no secret/);
    // Run again: nothing can be written, and the job still holds the old key: stale.
    const again = await deliver({ ...hostile, aws_secret_access_key: ENCRYPTED_SECRET_PLACEHOLDER }, dir, ["orders.json"]);
    assert.deepEqual([again.report.updated, again.report.stale, again.report.current], [0, 1, 0]);
    assert.match(again.lines[0], /^orders\.json: input\.credentials: not updated \(kept aws_access_key_id/);
  });

  it("with a block that has no LWA values, a job holding its own is current, not stale", async () => {
    const { report, lines } = await deliver({ ...hostile, ...OLD, ...PLACEHOLDERS }, dir, ["orders.json"]);
    assert.deepEqual([report.updated, report.stale, report.current], [0, 0, 1]);
    assert.equal(lines[0], "orders.json: input.credentials: current (kept client_secret: the stack's block has only a placeholder for it)");
  });
});

describe("npm run credentials: the command", () => {
  const SECRET = "amzn1.oa2-cs.v1.0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
  const REFRESH = "Atzr|IwEBI-the-refresh-token-0123456789";
  let cli: FakePulumi;
  let dir: string;
  beforeEach(() => {
    cli = FakePulumi.create();
    cli.addStack("acme", {
      config: { lwaClientId: CLIENT_ID },
      secrets: { lwaClientSecret: SECRET, lwaRefreshToken: REFRESH },
      account: "111111111111",
      selected: true,
    });
    dir = copyFixtures(REFRESH);
  });
  afterEach(() => {
    cli.cleanup();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  function stackBlock(): { hjson: string; values: Partial<CredentialValues> } {
    const hjson = cli.stack("acme").outputs.credentials.value as string;
    return { hjson, values: blockValues(hjson) };
  }

  async function run(argv: string[]): Promise<{ code: number; out: string }> {
    const lines: string[] = [];
    const log = console.log;
    const error = console.error;
    console.log = (line: string) => lines.push(line);
    console.error = (line: string) => lines.push(line);
    try {
      const code = await main(argv, cli.env({ INIT_CWD: dir }));
      return { code, out: lines.join("\n") };
    } finally {
      console.log = log;
      console.error = error;
    }
  }

  function secretsOfStack(): string[] {
    const { values } = stackBlock();
    return [values.aws_secret_access_key!, SECRET, REFRESH];
  }

  it("parses the forms a user types, and refuses the rest with exit 2", async () => {
    assert.deepEqual(parseArgs(["--stack", "acme", "--into", "a.json", "jobs/", "--check=b", "c", "--dry-run"]), {
      stack: "acme",
      into: ["a.json", "jobs/"],
      check: ["b", "c"],
      dryRun: true,
      json: false,
      help: false,
      file: undefined,
    });
    assert.equal(parseArgs(["--format=json", "out.json"]).file, "out.json");
    for (const bad of [
      ["--into"],
      ["--into="],
      ["--check", "--dry-run"],
      ["--stack="],
      ["--format", "yaml"],
      ["a", "b"],
      ["out.hjson", "--into", "x"],
      ["--into", "x", "--format", "json"],
      ["--bogus"],
    ]) {
      assert.equal((await run(bad)).code, 2, JSON.stringify(bad));
    }
  });

  it("writes the stack's block to a file relative to where the user ran it, mode 600, replacing a too-open file", async () => {
    fs.mkdirSync(path.join(dir, "out"));
    const oldBlock = renderCredentials({ ...hostile, ...OLD }, "na");
    fs.writeFileSync(path.join(dir, "out", "mine.hjson"), oldBlock, { mode: 0o644 });
    const result = await run(["out/mine.hjson"]);
    assert.equal(result.code, 0, result.out);
    assert.equal(read(dir, "out/mine.hjson"), stackBlock().hjson.endsWith("\n") ? stackBlock().hjson : `${stackBlock().hjson}\n`);
    assert.equal(fs.statSync(path.join(dir, "out", "mine.hjson")).mode & 0o777, 0o600);
    assert.deepEqual(fs.readdirSync(path.join(dir, "out")).sort(), ["mine.hjson", "mine.hjson.previous"], "no temporary file left");
    assert.match(result.out, /^Wrote out\/mine\.hjson \(mode 600\)/);
    assertNoSecrets([result.out], secretsOfStack());
  });

  it("never writes a block over a job config or a file it did not write: exit 1, naming --into for a job config, before the stack is read", async () => {
    const before = snapshot(dir);
    // `npm run credentials -- --stack acme orders.json`: --into forgotten.
    for (const [target, named] of [
      ["orders.json", true],
      ["reports.hjson", true],
      ["two-customers.json", true],
      ["tree/notes.txt.json", false],
    ] as const) {
      if (!named) fs.writeFileSync(path.join(dir, target), '{"a person\'s": "file"}\n');
      const snap = snapshot(dir);
      for (const argv of [[target], ["--stack", "acme", target], ["--dry-run", target]]) {
        const result = await run(argv);
        assert.equal(result.code, 1, `${argv.join(" ")}: ${result.out}`);
        if (named)
          assert.match(
            result.out,
            new RegExp(
              `^credentials: error: ${target.replace(".", "\\.")} holds a job config, not a credentials block this kit wrote; it was left as it was\\. To write this stack's values into it, use --into: npm run credentials -- --stack <name> --into ${target.replace(".", "\\.")}\\.`,
            ),
          );
        else
          assert.match(
            result.out,
            /exists and is not a credentials block this kit wrote; it was left as it was\. Give another file name, or move it away first/,
          );
      }
      assert.deepEqual(snapshot(dir), snap, `${target} left as it was`);
    }
    assert.deepEqual(cli.calls(), [], "refused before the stack was read");
    assert.ok(before.size > 0);
  });

  it("replacing a block it wrote keeps the one it replaced as <file>.previous, mode 600 (and says so); the same block again keeps nothing", async () => {
    const oldBlock = renderCredentials({ ...hostile, ...OLD }, "na");
    fs.writeFileSync(path.join(dir, "credentials.hjson"), oldBlock, { mode: 0o600 });
    const dry = await run(["--dry-run"]);
    assert.equal(dry.code, 0, dry.out);
    assert.match(dry.out, /^Would write credentials\.hjson \(mode 600\), keeping the block it holds as credentials\.hjson\.previous; wrote nothing\.$/);
    const result = await run([]);
    assert.equal(result.code, 0, result.out);
    assert.equal(read(dir, "credentials.hjson.previous"), oldBlock);
    assert.equal(fs.statSync(path.join(dir, "credentials.hjson.previous")).mode & 0o777, 0o600);
    assert.match(result.out, /^Kept the block it replaced as credentials\.hjson\.previous \(mode 600\): delete it once no job uses its values\.$/m);
    assertNoSecrets([result.out, dry.out], secretsOfStack());
    // The JSON form of a named credential is a block the kit wrote too.
    fs.writeFileSync(path.join(dir, "named.json"), blockAsJson({ ...hostile, ...OLD }));
    const json = await run(["--format", "json", "named.json"]);
    assert.equal(json.code, 0, json.out);
    assert.equal(read(dir, "named.json.previous"), blockAsJson({ ...hostile, ...OLD }));
    // Written again, unchanged: nothing new to keep.
    fs.rmSync(path.join(dir, "credentials.hjson.previous"));
    const again = await run([]);
    assert.equal(again.code, 0, again.out);
    assert.ok(!fs.existsSync(path.join(dir, "credentials.hjson.previous")));
    assert.doesNotMatch(again.out, /Kept/);
  });

  it("--format json writes the JSON object of the seven fields the connector's docs show", async () => {
    const result = await run(["--format", "json"]);
    assert.equal(result.code, 0, result.out);
    const written = read(dir, "credentials.json");
    assert.equal(written, blockAsJson(stackBlock().values));
    assert.deepEqual(Object.keys(JSON.parse(written)), [...CREDENTIAL_FIELDS]);
    assert.equal(JSON.parse(written).client_secret, SECRET);
    assertNoSecrets([result.out], secretsOfStack());
  });

  it("refuses a directory, a link or a pipe as the output file, and leaves it alone", async () => {
    fs.symlinkSync(path.join(dir, "orders.json"), path.join(dir, "link.hjson"));
    const before = snapshot(dir);
    for (const target of ["tree", "tree/"]) {
      const result = await run([target]);
      assert.equal(result.code, 1);
      assert.match(result.out, /^credentials: error: tree\/? is a directory; give a file name \(e\.g\. tree\/credentials\.hjson\)$/);
    }
    const linked = await run(["link.hjson"]);
    assert.equal(linked.code, 1);
    assert.equal(linked.out, "credentials: error: link.hjson is not a regular file (a link, a device or a pipe); give a file name");
    assert.deepEqual(snapshot(dir), before);
    assert.deepEqual(cli.calls(), [], "refused before the stack was read");
  });

  it("a stack that does not exist: exit 1, and the Pulumi plumbing's message", async () => {
    const result = await run(["--stack", "nope", "--check", "."]);
    assert.equal(result.code, 1);
    assert.match(result.out, /nope/);
    const json = await run(["--stack", "nope", "--check", ".", "--json"]);
    assert.equal(json.code, 1);
    const [errorLine, ...document] = json.out.split("\n");
    assert.match(errorLine!, /^credentials: error: .*nope/);
    assert.deepEqual(Object.keys(JSON.parse(document.join("\n"))), ["stack", "exitCode", "error"], "--json: a document even then");
  });

  it("--authorization <name> writes that authorization's block: its region and token, the same app and key; an unknown one is named", async () => {
    const EU_TOKEN = "Atzr|IwEBI-the-EU-authorization-0123456789";
    cli.addStack("seller", {
      config: { lwaClientId: CLIENT_ID },
      secrets: { lwaClientSecret: SECRET, lwaRefreshToken: REFRESH, authorizations: JSON.stringify({ eu: { spApiRegion: "eu", refreshToken: EU_TOKEN } }) },
      account: "111111111111",
    });
    const written = await run(["--stack", "seller", "--authorization", "eu", "eu.hjson"]);
    assert.equal(written.code, 0, written.out);
    const eu = Hjson.parse(read(dir, "eu.hjson")).credentials;
    const na = Hjson.parse(cli.stack("seller").outputs.credentials!.value as string).credentials;
    assert.deepEqual(eu, { ...na, region: "eu-west-1", refresh_token: EU_TOKEN });
    assert.equal(fs.statSync(path.join(dir, "eu.hjson")).mode & 0o777, 0o600);
    assert.ok(!written.out.includes(EU_TOKEN));

    const unknown = await run(["--stack", "seller", "--authorization", "fe", "fe.hjson"]);
    assert.equal(unknown.code, 1);
    assert.match(
      unknown.out,
      /Stack seller has no authorization "fe" deployed \(its authorizations: eu\)\. Add it: pulumi config set --path 'authorizations\.fe\.spApiRegion'/,
    );
    assert.ok(!fs.existsSync(path.join(dir, "fe.hjson")));
    const withInto = await run(["--stack", "seller", "--authorization", "eu", "--into", "orders.json"]);
    assert.equal(withInto.code, 2);
    assert.match(withInto.out, /--authorization picks the block written to a file; --into and --check need none/);
  });

  it("--into and --check deliver and check the stack's current block", async () => {
    const before = snapshot(dir);
    const oldReports = Hjson.parse(read(dir, "reports.hjson")).input.credentials;
    const oldOrders = JSON.parse(read(dir, "orders.json")).input.credentials;
    const stale = await run(["--check", "orders.json", "reports.hjson"]);
    assert.equal(stale.code, 1);
    assert.deepEqual(snapshot(dir), before);
    // Both at once: delivered first, then checked. The jobs hold a key the stack never had (AKIAOLD...): not
    // its key, so only the app's secret is written.
    const both = await run(["--stack", "acme", "--into", "orders.json", "reports.hjson", "--check", "orders.json", "reports.hjson"]);
    assert.equal(both.code, 0, both.out);
    const values = stackBlock().values as CredentialValues;
    assert.deepEqual(Hjson.parse(read(dir, "reports.hjson")).input.credentials, withOnly(oldReports, values, ["client_secret"]));
    assert.deepEqual(JSON.parse(read(dir, "orders.json")).input.credentials, withOnly(oldOrders, values, ["client_secret"]));
    assert.match(both.out, /objects: 2 updated, 0 current[^]*objects: 0 updated, 2 current, 0 stale/);
    for (const result of [stale, both]) assertNoSecrets([result.out], [...secretsOfStack(), ...allSecrets()]);
  });

  it("through the user's door: npm run credentials from another directory, relative paths against it", async function () {
    this.timeout(60000);
    const checked = await runThroughNpm("credentials", ["--check", "tree"], { cwd: dir, env: cli.env() });
    assert.equal(checked.code, 1, checked.stderr);
    assert.match(checked.stdout, /^tree\/eu\/new-job\.hjson: input\.credentials: stale: client_secret \(a placeholder or an empty value\)/m);
    assert.match(checked.stdout, /^Summary: 2 files scanned; objects: 0 updated, 0 current, 2 stale/m);
    assertNoSecrets([checked.stdout, checked.stderr], secretsOfStack());
  });

  it("through npm without the --: a flag npm kept (--stack acme-eu, -s acme, --format json) writes nothing, reads no stack, exit 2", async function () {
    this.timeout(60000);
    const before = snapshot(dir);
    for (const [typed, says] of [
      [["--stack", "acme-eu"], /^credentials: error: npm kept --stack for itself \(it set npm_config_stack\).*npm run credentials -- --stack/],
      [["--stack=acme-eu"], /^credentials: error: npm kept --stack for itself/],
      // -s is npm's --silent, which npm may have; the stack's name then arrives alone, as an output file name.
      [["-s", "acme"], /^credentials: error: the output file "acme" does not end in \.hjson or \.json .*put -- before the flags/],
      [["--format", "json"], /^credentials: error: the output file "json" does not end in \.hjson or \.json/],
    ] as const) {
      const result = await runThroughNpm("credentials", [], { cwd: dir, env: cli.env(), beforeDashes: [...typed] });
      assert.equal(result.code, 2, `${typed.join(" ")}: ${result.stderr}`);
      assert.match(result.stderr, says, typed.join(" "));
      assert.equal(result.stdout, "", typed.join(" "));
    }
    assert.deepEqual(snapshot(dir), before, "no file written (acme-eu, acme, json or credentials.hjson)");
    assert.deepEqual(cli.calls(), [], "no stack was read");
  });

  it("--check --json through npm, with -s: one JSON document on standard output, nothing else there", async function () {
    this.timeout(60000);
    const result = await runThroughNpm("credentials", ["-s", "acme", "--check", "tree", "--json"], { cwd: dir, env: cli.env() });
    assert.equal(result.code, 1, result.stderr);
    const doc = JSON.parse(result.stdout) as { stack: string; filesScanned: number; stale: number; current: number; exitCode: number; findings: string[] };
    assert.deepEqual([doc.stack, doc.filesScanned, doc.stale, doc.current, doc.exitCode], ["acme", 2, 2, 0, 1]);
    assert.ok(
      doc.findings.some((f) => /^tree\/eu\/new-job\.hjson: input\.credentials: stale: client_secret/.test(f)),
      doc.findings.join("\n"),
    );
    assert.equal(result.stderr, "");
    assertNoSecrets([result.stdout], secretsOfStack());
    const refused = await run(["--json"]);
    assert.equal(refused.code, 2, "--json goes with --check");
  });
});

describe("credentials files stay out of git", () => {
  it("ignores the names users give credential files, and no file the repository tracks", () => {
    const ignored = (name: string) => spawnSync("git", ["check-ignore", "-q", "--no-index", name], { cwd: ROOT }).status === 0;
    for (const name of [
      "credentials.hjson",
      "credentials.json",
      "credentials-acme.hjson",
      "credentials.acme.hjson",
      "acme.credentials.hjson",
      "acme-credentials.hjson",
      "acme_credentials.json",
      "jobs/acme-eu-credentials.hjson",
      "credentials/acme.hjson",
      ".credentials.hjson.1234.abcd.tmp",
      // lib/files.ts's temporary files, whatever the file they stand in for
      ".orders.json.sp-api-iam.1234.abcd1234.tmp",
      "jobs/acme/.reports.hjson.sp-api-iam.99.0badc0de.tmp",
    ]) {
      assert.ok(ignored(name), `${name} is ignored`);
    }
    for (const name of [
      "package.json",
      "tsconfig.json",
      "Pulumi.dev.yaml",
      "src/credentials.template.hjson",
      "test/fixtures/jobs/orders.json",
      "commands/credentials/cli.ts",
      "jobs/acme/orders.json",
      "tsconfig.tmp",
    ]) {
      assert.ok(!ignored(name), `${name} is not ignored`);
    }
  });
});
