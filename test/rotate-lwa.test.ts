/**
 * npm run rotate-lwa, against fakes on 127.0.0.1 (test/fake-lwa-rotation.ts: LWA, the Application Management API
 * and SQS through the real @aws-sdk/client-sqs) and the stand-in Pulumi CLI (test/fake-pulumi.ts), which records
 * every call's arguments and standard input.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as Hjson from "hjson";
import { addDays, currentExpiry } from "../src/lifecycle";
import { openStack } from "../lib/pulumi";
import { parseArgs, UsageError } from "../commands/rotate-lwa/cli";
import {
  decideStep,
  disagreementWords,
  dispose,
  judgeRotationRequest,
  parseNotification,
  plainTime,
  rotationRequestedBody,
} from "../commands/rotate-lwa/decide";
import { LwaRotationResult, rotateLwa } from "../commands/rotate-lwa/run";
import { CLIENT_ID, FakeLwaRotation, OLD_SECRET, OTHER_CLIENT_ID, pascal, QUEUE_ARN, REFRESH_TOKEN, REGION } from "./fake-lwa-rotation";
import { MisbehavingPeer } from "./fake-amazon";
import { FakePulumi } from "./fake-pulumi";
import { runThroughNpm } from "./through-npm";

const STACK = "acme";
const today = () => new Date().toISOString().slice(0, 10);
const AWS_KEY_ID = "AKIAOPERATOR7EXAMPLE";
const AWS_KEY_SECRET = "opErAtOr/SeCrEt+KeY=0123456789abcdefABCD";

describe("npm run rotate-lwa", function () {
  this.timeout(60_000);
  let fake: FakeLwaRotation;
  // One stand-in CLI for the whole file (each of its calls costs a process start); each test re-seeds the stack and
  // reads only the calls made since it began.
  let cli: FakePulumi;
  let base = 0;
  let work: string;

  before(() => (cli = FakePulumi.create()));
  after(() => cli.cleanup());
  beforeEach(async () => {
    fake = new FakeLwaRotation();
    fake.longPollScale = 0.05;
    await fake.start();
    base = cli.calls().length;
    work = fs.mkdtempSync(path.join(os.tmpdir(), "rotate-lwa-"));
  });
  /** Everything every run of this test printed. */
  let printed: string[] = [];
  afterEach(async function () {
    await fake.stop();
    fs.rmSync(work, { recursive: true, force: true });
    // Every test of the command, whatever it is about: no secret it handled in any output or any argument list.
    if (this.currentTest?.state === "passed") assertNoSecretLeaked(printed);
    printed = [];
  });

  const calls = () => cli.calls().slice(base);
  const callsOf = (words: string) => calls().filter((c) => words.split(" ").every((w, i) => c.argv[i] === w));

  /** The stack, deployed, with `issuedOn` as lwaClientSecretIssuedOn (null: unset). */
  function addStack(config: Record<string, string | number | boolean> = {}, issuedOn: string | null = addDays(today(), -170)): void {
    cli.addStack(STACK, {
      config: { spApiRegion: "eu", lwaRotation: true, lwaClientId: CLIENT_ID, ...(issuedOn ? { lwaClientSecretIssuedOn: issuedOn } : {}), ...config },
      secrets: { lwaClientSecret: OLD_SECRET, lwaRefreshToken: REFRESH_TOKEN },
      provider: { region: REGION },
      selected: true,
    });
  }

  function env(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
    return cli.env({
      ...fake.env(),
      AWS_ACCESS_KEY_ID: AWS_KEY_ID,
      AWS_SECRET_ACCESS_KEY: AWS_KEY_SECRET,
      INIT_CWD: work,
      ...extra,
    });
  }

  interface Run {
    result: LwaRotationResult;
    lines: string[];
  }

  async function run(
    opts: { ifDue?: boolean; waitSeconds?: number; dryRun?: boolean; env?: NodeJS.ProcessEnv; now?: Date; manualDelivery?: string } = {},
  ): Promise<Run> {
    const e = opts.env ?? env();
    const stack = await openStack(STACK, { env: e });
    const lines: string[] = [];
    const result = await rotateLwa(stack, {
      ifDue: opts.ifDue ?? false,
      waitSeconds: opts.waitSeconds ?? 5,
      out: "creds.hjson",
      dryRun: opts.dryRun,
      env: e,
      ...(opts.now ? { now: () => opts.now! } : {}),
      ...(opts.manualDelivery ? { manualDelivery: opts.manualDelivery } : {}),
      print: (line) => lines.push(line),
    });
    printed.push(...lines);
    return { result, lines };
  }

  const config = () => cli.config(STACK);
  const blockFile = () => path.join(work, "creds.hjson");
  const secretSets = () => calls().filter((c) => c.argv.includes("--secret"));

  /** Every secret this test's fakes know: none may appear in any output line or any recorded argument list. */
  function assertNoSecretLeaked(...outputs: string[][]): void {
    const secrets = [OLD_SECRET, REFRESH_TOKEN, AWS_KEY_SECRET, ...fake.issued, ...fake.grantlessTokens, ...fake.accessTokens];
    const text = outputs.flat().join("\n");
    const argv = calls().map((c) => c.argv.join(" "));
    for (const secret of secrets) {
      assert.ok(!text.includes(secret), "a secret in the output");
      for (const args of argv) assert.ok(!args.includes(secret), "a secret in a process's arguments");
    }
    assert.ok(!/Atz[ar]\||amzn1\.oa2-cs/.test(text), "something shaped like a token or secret in the output");
    for (const body of fake.messages.map((m) => m.body)) assert.ok(!text.includes(body), "a message body in the output");
  }

  const newSecretMessages = () => fake.live().filter((m) => parseNotification(m.body).kind === "new-secret");
  const visibleNow = (id: string) => fake.messages.find((m) => m.id === id)!.visibleAt <= Date.now();

  it("happy path: one rotation, the secret through stdin, issued-on set, up, block written, message deleted last", async () => {
    addStack();
    fake.observeAtDelete = () => fs.existsSync(blockFile());
    const { result, lines } = await run();
    assert.equal(result.exitCode, 0, lines.join("\n"));
    assert.equal(result.outcome, "rotated");

    assert.equal(fake.rotations().length, 1);
    assert.deepEqual(
      fake.calls.filter((c) => c.service !== "sqs").map((c) => [c.service, c.action, c.problems]),
      [
        ["lwa", "client_credentials", []],
        ["rotation", "/applications/2023-11-30/clientSecret", []],
        ["lwa", "refresh_token", []],
      ],
    );
    for (const call of fake.sqsCalls()) assert.deepEqual(call.problems, [], call.action);
    const newSecret = fake.issued[0]!;

    const sets = secretSets();
    assert.equal(sets.length, 1);
    assert.deepEqual(sets[0]!.argv.slice(0, 3), ["config", "set", "--secret"]);
    assert.equal(sets[0]!.stdin, newSecret, "the secret reached the CLI on standard input");
    assert.deepEqual(config().lwaClientSecret, { value: newSecret, secret: true });
    assert.equal(config().lwaClientSecretIssuedOn!.value, today());
    assert.match(config().lwaClientSecretExpiresAt!.value, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/);

    // Two deployments: the rotation record before Amazon's request (so every machine sees it), then the new secret.
    const ups = callsOf("up");
    assert.equal(ups.length, 2);
    const block = Hjson.parse(fs.readFileSync(blockFile(), "utf8")).credentials;
    assert.equal(block.client_secret, newSecret);
    assert.equal(block.refresh_token, REFRESH_TOKEN);
    assert.equal(fs.statSync(blockFile()).mode & 0o777, 0o600);
    assert.equal(result.wroteBlock, blockFile());

    const deletes = fake.sqsCalls("DeleteMessage");
    const newSecretId = fake.messages.find((m) => parseNotification(m.body).kind === "new-secret")!.id;
    const deleteOfSecret = deletes.find((d) => d.params!.messageId === newSecretId);
    assert.ok(deleteOfSecret, "the new-secret message is deleted");
    assert.ok(deleteOfSecret.at >= ups[0]!.endedAt, "deleted only after pulumi up");
    assert.equal(deleteOfSecret.params!.observed, true, "deleted only after the block was written");
    assert.deepEqual(fake.live(), [], "the queue is empty: the message and this run's note are gone");

    const summary = lines.join("\n");
    assert.match(summary, /✓ Rotated the LWA client secret of amzn1\.application-oa2-client\.0123456789abcdef0123456789abcdef\./);
    assert.match(summary, /The new secret expires \w{3} \d{1,2} \w{3} \d{4}, \d{2}:\d{2} UTC \(in 180 days\)/);
    assert.match(summary, /The old secret stops working \w{3} \d{1,2} \w{3} \d{4}, \d{2}:\d{2} UTC \(in 7 days\): every job must have the new block/);
    assertNoSecretLeaked(lines);
  });

  it("400 not enrolled: names the Developer Console step with the queue ARN; nothing stored", async () => {
    addStack();
    fake.rotationError = {
      status: 400,
      code: "InvalidInput",
      message: "Application is not enrolled for rotation notification. Please update application notification preference in Developer console.",
    };
    const { result, lines } = await run();
    assert.equal(result.exitCode, 1);
    const text = lines.join("\n");
    assert.match(text, /not enrolled for rotation notifications/);
    assert.ok(
      text.includes(
        `Notification Preferences: for "Application Client New Secret" and "Application Client Secret Expiry", Add new destination (SQS ARN) ${QUEUE_ARN}`,
      ),
    );
    assert.equal(secretSets().length, 0);
    // The record was deployed before the request, and its removal after Amazon's refusal too.
    assert.equal(callsOf("up").length, 2);
    assert.equal(config().lwaRotationRequestedAt, undefined);
    assert.equal((cli.stack(STACK).outputs.operationalState!.value as { values: Record<string, string> }).values.lwaRotationRequestedAt, undefined);
    assert.deepEqual(fake.live(), [], "no note of a request Amazon refused");
    assert.ok(!fs.existsSync(blockFile()));
    assertNoSecretLeaked(lines);
  });

  it("429: one rotation a minute, run again in a minute", async () => {
    addStack();
    fake.rotationError = { status: 429, code: "QuotaExceeded", message: "You exceeded your quota for the requested resource." };
    const { result, lines } = await run();
    assert.equal(result.exitCode, 1);
    assert.match(lines.join("\n"), /one rotation request a minute.*\n.*Fix: run again in a minute/);
    assert.equal(secretSets().length, 0);
  });

  it("another status: its number and Amazon's message, scrubbed of secrets and control characters", async () => {
    addStack();
    fake.rotationError = { status: 500, code: "InternalFailure", message: `boom \x1b[31m${OLD_SECRET} Atza|leaked-token\r\nsecond line` };
    const { result, lines } = await run();
    assert.equal(result.exitCode, 1);
    const text = lines.join("\n");
    assert.match(text, /HTTP 500 InternalFailure: "boom \[redacted\] \[redacted\] second line"/);
    assert.ok(!text.includes("\x1b") && !text.includes("\r"));
    assertNoSecretLeaked(lines);
  });

  it("no message within the wait: exit 1, 'requested'; a rerun waits without a second rotation; once delivered, a run completes it", async () => {
    addStack();
    fake.deliverNewSecret = "later";
    const first = await run({ waitSeconds: 1 });
    assert.equal(first.result.exitCode, 1);
    assert.equal(first.result.outcome, "waiting");
    assert.match(first.lines.join("\n"), /the rotation was requested \(at .*\), but no new secret LWA accepts arrived within 1 s/);
    assert.match(first.lines.join("\n"), /does not request another rotation/);
    assert.equal(fake.rotations().length, 1);
    assert.equal(secretSets().length, 0);
    const requestedAt = config().lwaRotationRequestedAt?.value;
    assert.ok(requestedAt, "the request is recorded in the stack's config, where every run sees it");
    assert.equal(config().lwaRotationRequestedAt!.secret, false);
    assert.deepEqual(fake.live(), [], "and nothing of it in the queue");

    const second = await run({ waitSeconds: 1 });
    assert.equal(second.result.outcome, "waiting");
    assert.match(second.lines.join("\n"), /requested at .* \(lwaRotationRequestedAt\) is not answered yet: waiting for its secret \(no new request\)/);
    assert.equal(fake.rotations().length, 1, "no second rotation while the first is on its way");

    fake.deliverPending();
    const third = await run({ waitSeconds: 1 });
    assert.equal(third.result.exitCode, 0, third.lines.join("\n"));
    assert.equal(fake.rotations().length, 1, "still one rotation");
    assert.equal(config().lwaClientSecret!.value, fake.issued[0]);
    assert.ok(Date.parse(config().lwaClientSecretIssuedAt!.value) >= Date.parse(requestedAt) - 120_000, "the record is answered");
    assert.deepEqual(fake.live(), []);
    assertNoSecretLeaked(first.lines, second.lines, third.lines);
  });

  it("the rotation request goes unanswered: the record stays, and the next run waits for a secret rather than asking again", async () => {
    addStack();
    fake.stall.add("rotation");
    const first = await run({ env: env({ SP_API_ROTATE_LWA_TIMEOUT_MS: "2000" }) });
    assert.equal(first.result.exitCode, 1);
    assert.match(first.lines.join("\n"), /got no answer \(TimeoutError\): Amazon may or may not have rotated the secret/);
    assert.ok(config().lwaRotationRequestedAt, "the record, written before the request, stays");
    fake.stall.delete("rotation");
    const second = await run({ waitSeconds: 1 });
    assert.equal(second.result.outcome, "waiting");
    assert.match(second.lines.join("\n"), /is not answered yet: waiting for its secret \(no new request\)/);
    assert.equal(fake.calls.filter((c) => c.service === "rotation").length, 1, "only the first, unanswered request");
  });

  it("the rotation record's up fails: nothing is asked, the record taken back, the next run asks (issue 20)", async () => {
    addStack();
    cli.failNext(STACK, "up", { stderr: "error: the provider could not reach AWS (injected)" });
    const first = await run();
    assert.equal(first.result.exitCode, 1);
    assert.match(first.lines.join("\n"), /the provider could not reach AWS[^]*Nothing was asked/);
    assert.equal(fake.calls.filter((c) => c.service !== "sqs").length, 0, "no token, no rotation request");
    assert.equal(config().lwaRotationRequestedAt, undefined, "the record taken back from the working copy");
    assert.equal((cli.stack(STACK).outputs.operationalState!.value as { values: Record<string, string> }).values.lwaRotationRequestedAt, undefined);
    const second = await run();
    assert.equal(second.result.exitCode, 0, second.lines.join("\n"));
    assert.equal(fake.rotations().length, 1);
  });

  it("pulumi up fails: the message is kept (visible at once); the rerun finishes without storing or rotating again", async () => {
    // The request recorded (and deployed) by an earlier run, its secret waiting: the `up` that fails is the one after storing it.
    addStack({ lwaRotationRequestedAt: new Date(Date.now() - 60_000).toISOString() });
    fake.rotate();
    cli.failNext(STACK, "up", { stderr: "error: the provider could not reach AWS (injected)" });
    const first = await run();
    assert.equal(first.result.exitCode, 1);
    assert.match(first.lines.join("\n"), /the provider could not reach AWS.*The new secret is stored in the stack's config and stays in the queue/);
    assert.match(first.lines.join("\n"), /it finishes the rotation from the queue, without another request/);
    const waiting = newSecretMessages();
    assert.equal(waiting.length, 1);
    assert.ok(visibleNow(waiting[0]!.id), "made visible again at once");
    assert.ok(!fs.existsSync(blockFile()));

    const second = await run();
    assert.equal(second.result.exitCode, 0, second.lines.join("\n"));
    assert.match(second.lines.join("\n"), /stack acme already holds the new secret/);
    assert.equal(fake.rotations().length, 0, "no request: the recorded one was answered");
    assert.equal(secretSets().length, 1, "the secret was set once");
    assert.equal(callsOf("up").length, 2);
    assert.equal(Hjson.parse(fs.readFileSync(blockFile(), "utf8")).credentials.client_secret, fake.issued[0]);
    assert.deepEqual(fake.live(), []);
    assertNoSecretLeaked(first.lines, second.lines);
  });

  it("--out is a directory: refused before anything is asked, stored or deployed (it used to rotate, store, deploy, then fail)", async () => {
    addStack();
    fs.mkdirSync(blockFile());
    const { result, lines } = await run();
    assert.equal(result.exitCode, 2);
    assert.match(lines.join("\n"), /--out: .*creds\.hjson is a directory; give a file name.*Nothing was asked or changed/);
    assert.equal(fake.calls.filter((c) => c.service !== "sqs").length, 0, "no LWA or rotation call");
    assert.equal(callsOf("config set").length + callsOf("up").length, 0);
    assert.equal(fake.sqsCalls().length, 0);

    // A place it cannot write (here: a directory that does not exist) is refused as early.
    const stack = await openStack(STACK, { env: env() });
    const said: string[] = [];
    const missing = await rotateLwa(stack, { ifDue: false, waitSeconds: 1, out: "no/such/dir/creds.hjson", env: env(), print: (l) => said.push(l) });
    printed.push(...said);
    assert.equal(missing.exitCode, 2);
    assert.match(said.join("\n"), /no\/such\/dir does not exist or is not a directory.*Nothing was asked or changed/);
    assert.equal(fake.calls.length, 0);
  });

  it("a new secret LWA rejects: set aside (recorded, the secret kept, deleted), nothing stored, exit 1; a later not-due run exits 0 (it used to fail for 14 days)", async () => {
    addStack();
    fake.rejectNewSecrets = true;
    const { result, lines } = await run({ waitSeconds: 1 });
    assert.equal(result.exitCode, 1);
    const text = lines.join("\n");
    assert.match(
      text,
      /set aside a new-secret message sent .*: LWA refused it .*Recorded in lwaRotationSetAside \(the secret kept in lwaRotationSetAsideSecret\); nothing else was stored/,
    );
    assert.match(text, /A new-secret message that LWA refused was set aside/);
    assert.deepEqual(config().lwaClientSecret, { value: OLD_SECRET, secret: true });
    assert.ok(config().lwaRotationSetAside, "recorded for status");
    // The refused secret is kept, as a secret (on standard input), never as the stack's secret (issue 20).
    assert.deepEqual(config().lwaRotationSetAsideSecret, { value: fake.issued[0], secret: true });
    assert.deepEqual(
      secretSets().map((c) => c.argv.find((a) => a.startsWith("sp-api-iam:"))),
      ["sp-api-iam:lwaRotationSetAsideSecret"],
    );
    // Two deployments: the rotation record before Amazon's request, and the set-aside record.
    assert.equal(callsOf("up").length, 2);
    assert.deepEqual(newSecretMessages(), [], "removed from the queue");

    // Another bad message (forged, superseded) arrives; a not-due --if-due run sets it aside and exits 0.
    fake.rejectNewSecrets = true;
    fake.rotate();
    const later = new Date(Date.now() + 60_000);
    cli.editConfig(STACK, (c) => {
      c["sp-api-iam:lwaClientSecretIssuedOn"] = { value: addDays(today(), -10), secret: false };
      delete c["sp-api-iam:lwaRotationRequestedAt"];
    });
    const notDue = await run({ ifDue: true, now: later });
    assert.equal(notDue.result.exitCode, 0, notDue.lines.join("\n"));
    assert.equal(notDue.result.outcome, "not-due");
    // The slot still holds the first one: the second is not thrown away, it stays in the queue until it is cleared.
    assert.match(notDue.lines.join("\n"), /Left in the queue: the secret set aside at .* is still kept .*--clear-set-aside --stack acme/);
    assert.equal(newSecretMessages().length, 1);
    assert.deepEqual(config().lwaRotationSetAsideSecret, { value: fake.issued[0], secret: true });
    assertNoSecretLeaked(lines, notDue.lines);
  });

  it("a PascalCase new secret already waiting, beside another app's messages: completed without a new request; the others left alone", async () => {
    addStack();
    fake.newSecretFormat = { pascalCase: true };
    fake.rotate(); // a rotation started elsewhere (the console, an interrupted run): its message waits in the queue
    const foreignSecret = "amzn1.oa2-cs.v1.aaaabbbbccccdddd0000111122223333444455556666777788889999aaaabbbb";
    const foreign = fake.send(fake.newSecretBody(foreignSecret, { clientId: OTHER_CLIENT_ID }));
    const foreignExpiry = fake.send(fake.expiryBody("2027-01-01T00:00:00Z", { clientId: OTHER_CLIENT_ID }));
    assert.ok(fake.messages[0]!.body.includes('"NotificationType"'), "the fake really sent PascalCase");

    const { result, lines } = await run();
    assert.equal(result.exitCode, 0, lines.join("\n"));
    const text = lines.join("\n");
    assert.match(text, /a new secret for this app is waiting in the queue: completing that rotation \(no new request\)/);
    assert.equal(fake.rotations().length, 0);
    assert.ok(!fake.calls.some((c) => c.action === "client_credentials"), "no grantless token was even asked for");
    assert.equal(config().lwaClientSecret!.value, fake.issued[0]);

    assert.deepEqual(
      fake.live().map((m) => m.id),
      [foreign.id, foreignExpiry.id],
    );
    assert.ok(visibleNow(foreign.id) && visibleNow(foreignExpiry.id), "made visible again at once");
    assert.ok(!fake.sqsCalls("DeleteMessage").some((d) => [foreign.id, foreignExpiry.id].includes(d.params!.messageId as string)));
    assert.match(text, /left in the queue: a message for another client id/);
    assert.ok(!text.includes(foreignSecret));
    assertNoSecretLeaked(lines);
  });

  it("--if-due with jobConfigs but a job the caller says is delivered by hand: held back to 7 days before expiry, then rotated", async () => {
    // jobConfigs listed, so only the caller's finding (maintain's dry run of the delivery found a named credential)
    // holds the rotation back: 20 days before expiry it waits and says why; 5 days before, it rotates.
    const now = new Date(`${today()}T06:00:00Z`);
    const manualDelivery = "1 job(s) in jobConfigs name a stored credential (updated by hand in the product)";
    addStack({ jobConfigs: JSON.stringify(["jobs/"]) }, addDays(now.toISOString().slice(0, 10), -160));
    const held = await run({ ifDue: true, now, manualDelivery });
    assert.equal(held.result.outcome, "not-due", held.lines.join("\n"));
    assert.match(held.lines.join("\n"), /--if-due rotates from 7 days before \(1 job\(s\) in jobConfigs name a stored credential/);
    assert.equal(fake.rotations().length, 0);

    addStack({ jobConfigs: JSON.stringify(["jobs/"]) }, addDays(now.toISOString().slice(0, 10), -175));
    const rotated = await run({ ifDue: true, manualDelivery });
    assert.equal(rotated.result.outcome, "rotated", rotated.lines.join("\n"));
    assert.equal(fake.rotations().length, 1);
  });

  it("--if-due when not due: no rotation and no writes, exit 0", async () => {
    // The clock is injected: at 06:00 UTC a secret issued 10 days ago expires in 169.75 days, which reads "170 days"
    // whatever the hour this test runs at (it once read the wall clock and failed every afternoon).
    const now = new Date(`${today()}T06:00:00Z`);
    addStack({}, addDays(now.toISOString().slice(0, 10), -10));
    const before = cli.configText(STACK);
    const { result, lines } = await run({ ifDue: true, now });
    assert.equal(result.exitCode, 0);
    assert.equal(result.outcome, "not-due");
    // No jobConfigs: a person hands the block over, so it rotates no earlier than 7 days before expiry.
    assert.match(lines.join("\n"), /not due: the secret expires .* \(in 170 days\); --if-due rotates from 7 days before \(stack acme lists no jobConfigs/);
    assert.equal(fake.calls.filter((c) => c.service !== "sqs").length, 0, "no LWA or rotation call");
    assert.equal(callsOf("config set").length + callsOf("up").length, 0);
    assert.equal(cli.configText(STACK), before);
    assert.ok(!fs.existsSync(blockFile()));
    assert.equal(fake.sqsCalls("DeleteMessage").length + fake.sqsCalls("SendMessage").length, 0);
  });

  it("--if-due believes Amazon's expiry notification: records it, says where it disagrees, deletes the notice", async () => {
    addStack({}, addDays(today(), -10));
    const amazonExpiry = `${addDays(today(), 160)}T08:00:00Z`;
    const notice = fake.send(fake.expiryBody(amazonExpiry));
    const { result, lines } = await run({ ifDue: true });
    assert.equal(result.exitCode, 0, lines.join("\n"));
    assert.equal(result.outcome, "not-due");
    const text = lines.join("\n");
    assert.match(text, /the current secret expires .* \(Amazon's notification\)/);
    assert.match(text, /Amazon's expiry is 10 days earlier than lwaClientSecretIssuedOn \+ 180 days/);
    assert.match(text, /recorded Amazon's expiry time in lwaClientSecretExpiresAt/);
    assert.equal(config().lwaClientSecretExpiresAt!.value, amazonExpiry);
    assert.ok(
      fake.sqsCalls("DeleteMessage").some((d) => d.params!.messageId === notice.id),
      "the notice is deleted once recorded",
    );
    assert.equal(fake.rotations().length, 0);
  });

  it("--if-due without any expiry date: exit 1, asks for lwaClientSecretIssuedOn", async () => {
    addStack({}, null);
    const { result, lines } = await run({ ifDue: true });
    assert.equal(result.exitCode, 1);
    assert.match(lines.join("\n"), /pulumi config set lwaClientSecretIssuedOn <YYYY-MM-DD.*> --stack acme/);
    assert.equal(fake.rotations().length, 0);
  });

  it("--dry-run decides and prints, changes nothing", async () => {
    addStack();
    const { result, lines } = await run({ dryRun: true });
    assert.equal(result.exitCode, 0);
    assert.match(lines.join("\n"), /dry run: would record the request, request a rotation/);
    assert.equal(fake.calls.filter((c) => c.service !== "sqs").length, 0);
    assert.equal(callsOf("config set").length + callsOf("up").length, 0);
  });

  it("refuses a stack without lwaRotation, and one without its LWA values, with the fixing commands", async () => {
    cli.addStack(STACK, { config: { lwaClientId: CLIENT_ID }, secrets: { lwaClientSecret: OLD_SECRET }, selected: true });
    const off = await run();
    assert.equal(off.result.exitCode, 1);
    assert.equal(off.result.outcome, "skipped");
    assert.match(off.lines.join("\n"), /lwaRotation is off for stack acme.*npm run pulumi -- config set lwaRotation true --stack acme && npm run up -- acme/);
    cli.setConfig(STACK, "lwaRotation", "true");
    const unset = await run();
    assert.equal(unset.result.exitCode, 1);
    assert.match(unset.lines.join("\n"), /Fix: npm run pulumi -- config set --secret lwaRefreshToken --stack acme/);
    assert.equal(fake.calls.length, 0, "nothing reached SQS, LWA or SP-API");
  });

  describe("peers that stall, trickle or answer garbage: exit 1 within the request timeouts, nothing rotated or stored", () => {
    // A margin the healthy fakes meet on a loaded machine; the misbehaving peer never does.
    const fast = () => env({ SP_API_AWS_TIMEOUT_MS: "2000", SP_API_ROTATE_LWA_TIMEOUT_MS: "2000" });
    const cases: { peer: "stall" | "trickle" | "garbage"; service: "sqs" | "lwa" | "rotation"; says: RegExp }[] = [
      { peer: "stall", service: "sqs", says: /reading the queue arn:aws:sqs:\S+ failed: .*SQS did not answer/ },
      { peer: "stall", service: "lwa", says: /could not reach LWA at http:\/\/127\.0\.0\.1:\d+ \(TimeoutError\)\.[\s\S]*Nothing was rotated/ },
      { peer: "trickle", service: "sqs", says: /reading the queue arn:aws:sqs:\S+ failed: .*SQS did not answer/ },
      { peer: "trickle", service: "lwa", says: /could not reach LWA at http:\/\/127\.0\.0\.1:\d+ \(TimeoutError\)/ },
      { peer: "garbage", service: "sqs", says: /reading the queue arn:aws:sqs:\S+ failed: / },
      { peer: "garbage", service: "lwa", says: /answered with something that is not an LWA token\. Nothing was rotated/ },
      { peer: "garbage", service: "rotation", says: /answered the rotation request with HTTP 200, not Amazon's 204/ },
    ];
    for (const c of cases) {
      it(`${c.service} ${c.peer === "stall" ? "stalls" : c.peer === "trickle" ? "trickles" : "answers garbage"}`, async () => {
        addStack();
        fake[c.peer].add(c.service);
        const { result, lines } = await run({ env: fast() });
        assert.equal(result.exitCode, 1, lines.join("\n"));
        assert.match(lines.join("\n"), c.says);
        assert.ok(!lines.join("\n").includes("<html>") && !lines.join("\n").includes("\x1b"), "the peer's body is not shown");
        assert.equal(fake.issued.length, 0);
        // Nothing stored; the only deployments are the rotation record and, when Amazon surely did not act, its removal.
        assert.equal(secretSets().length, 0);
        assert.ok(callsOf("up").length <= 2);
      });
    }
  });

  it("does not follow a redirect from LWA or the rotation endpoint: the client secret or the token would go with it", async () => {
    const elsewhere = await MisbehavingPeer.open("garbage");
    const redirector = await MisbehavingPeer.open("redirect", { redirectTo: `${elsewhere.url}/collect` });
    try {
      for (const endpoint of ["SP_API_LWA_ENDPOINT", "SP_API_ENDPOINT"]) {
        addStack();
        const upsBefore = callsOf("up").length;
        const { result, lines } = await run({ env: env({ [endpoint]: redirector.url }) });
        assert.equal(result.exitCode, 1, lines.join("\n"));
        assert.match(lines.join("\n"), /HTTP 307/, endpoint);
        assert.equal(fake.issued.length, 0);
        // Nothing stored; the only deployments are the rotation record and, when Amazon surely did not act, its removal.
        assert.equal(secretSets().length, 0);
        assert.ok(callsOf("up").length - upsBefore <= 2);
      }
      assert.equal(redirector.requests, 2);
      assert.equal(elsewhere.requests, 0, "a request followed the redirect");
    } finally {
      await redirector.stop();
      await elsewhere.stop();
    }
  });

  it("through the user's door: npm --prefix <repo> run rotate-lwa -- --stack acme from another directory", async () => {
    addStack();
    const { code, stdout, stderr } = await runThroughNpm("rotate-lwa", ["--stack", STACK, "--wait", "5"], { cwd: work, env: env() });
    assert.equal(code, 0, stdout + stderr);
    assert.match(stdout, /✓ Rotated the LWA client secret/);
    assert.equal(Hjson.parse(fs.readFileSync(path.join(work, "credentials.hjson"), "utf8")).credentials.client_secret, fake.issued[0]);
    assert.equal(fs.statSync(path.join(work, "credentials.hjson")).mode & 0o777, 0o600);
    printed.push(stdout, stderr);
  });
});

describe("rotate-lwa: decisions", () => {
  const now = new Date("2026-11-27T12:00:00Z");
  const newSecretBody = (fields: Record<string, unknown>) =>
    JSON.stringify({
      notificationType: "APPLICATION_OAUTH_CLIENT_NEW_SECRET",
      eventTime: "2026-11-27T10:00:00Z",
      payload: { applicationOAuthClientNewSecret: { clientId: CLIENT_ID, newClientSecret: "amzn1.oa2-cs.v1.abc123", ...fields } },
    });

  it("parses both field spellings to the same notification", () => {
    const body = newSecretBody({ newClientSecretExpiryTime: "2027-05-26T10:00:00.000Z" });
    const camel = parseNotification(body);
    assert.deepEqual(parseNotification(JSON.stringify(pascal(JSON.parse(body)))), camel);
    assert.deepEqual(camel, {
      kind: "new-secret",
      clientId: CLIENT_ID,
      newClientSecret: "amzn1.oa2-cs.v1.abc123",
      newClientSecretExpiryTime: "2027-05-26T10:00:00Z",
      oldClientSecretExpiryTime: undefined,
      eventTime: "2026-11-27T10:00:00Z",
      sentAt: "2026-11-27T10:00:00Z",
    });
    assert.deepEqual(parseNotification("not json"), { kind: "unreadable" });
    assert.deepEqual(parseNotification('{"notificationType":"ANY_OFFER_CHANGED"}'), { kind: "other", type: "ANY_OFFER_CHANGED" });
    assert.deepEqual(parseNotification(newSecretBody({ newClientSecret: 5 })), { kind: "unreadable" });
    assert.equal(parseNotification(rotationRequestedBody(CLIENT_ID, now)).kind, "rotation-requested");
  });

  it("disposes: ours completes, others are released, a new secret from before the stored secret's issue day is set aside", () => {
    const ours = parseNotification(newSecretBody({}));
    assert.deepEqual(dispose(ours, { clientId: CLIENT_ID, issuedOn: "2026-11-27" }), { action: "complete" });
    assert.equal(dispose(ours, { clientId: OTHER_CLIENT_ID }).action, "release");
    assert.equal(dispose(ours, { clientId: CLIENT_ID, issuedOn: "2026-11-28" }).action, "set-aside");
    assert.equal(dispose({ kind: "unreadable" }, { clientId: CLIENT_ID }).action, "release");
    // Amazon's notice that the previous secret stops 7 days after a rotation is not the current secret's expiry.
    const expiryNotice = (time: string) => ({ kind: "expiry" as const, clientId: CLIENT_ID, clientSecretExpiryTime: time, eventTime: "2026-11-27T10:00:00Z" });
    assert.equal(dispose(expiryNotice("2026-12-04T10:00:00Z"), { clientId: CLIENT_ID, issuedOn: "2026-11-27" }).action, "discard");
    assert.equal(dispose(expiryNotice("2027-05-26T10:00:00Z"), { clientId: CLIENT_ID, issuedOn: "2026-11-27" }).action, "record-expiry");
    assert.equal(dispose(expiryNotice("2026-12-04T10:00:00Z"), { clientId: CLIENT_ID, issuedOn: "2026-06-05" }).action, "record-expiry");
    // A run's note of its request, left over after the rotation finished, is not a rotation on its way.
    const note = parseNotification(rotationRequestedBody(CLIENT_ID, now));
    assert.equal(dispose(note, { clientId: CLIENT_ID, issuedOn: "2026-11-20" }).action, "pending");
    assert.equal(dispose(note, { clientId: CLIENT_ID, issuedOn: "2026-11-27" }).action, "discard");
    assert.equal(dispose(note, { clientId: OTHER_CLIENT_ID, issuedOn: "2026-11-20" }).action, "release");
  });

  it("believes Amazon's expiry over the tracked date, and ignores a recorded time older than the stored secret", () => {
    assert.deepEqual(currentExpiry({ issuedOn: "2026-06-01" }), { expiresAt: "2026-11-28T00:00:00Z", source: "lwaClientSecretIssuedOn + 180 days" });
    assert.deepEqual(currentExpiry({ issuedOn: "2026-06-01", fromConfig: "2026-11-25T09:00:00Z" }), {
      expiresAt: "2026-11-25T09:00:00Z",
      source: "Amazon's time recorded in lwaClientSecretExpiresAt",
      disagreementDays: -3,
    });
    const stale = currentExpiry({ issuedOn: "2026-11-20", fromConfig: "2026-11-25T09:00:00Z" });
    assert.equal(stale.expiresAt, "2027-05-19T00:00:00Z");
    assert.match(stale.ignored!, /npm run pulumi -- config rm lwaClientSecretExpiresAt/);
    assert.equal(
      currentExpiry({ issuedOn: "2026-06-01", fromMessage: "2026-12-01T00:00:00Z", fromConfig: "2026-11-25T09:00:00Z" }).expiresAt,
      "2026-12-01T00:00:00Z",
    );
  });

  it("compares Amazon's expiry with the tracked date by calendar day: the same day is no disagreement, the next is one day", () => {
    // Tracked: 2026-06-01 + 180 days = 2026-11-28. Amazon's on that day at 13:00 once read as "1 day later".
    const same = currentExpiry({ issuedOn: "2026-06-01", fromMessage: "2026-11-28T13:00:00Z" });
    assert.equal(same.disagreementDays, undefined);
    assert.equal(currentExpiry({ issuedOn: "2026-06-01", fromMessage: "2026-11-29T20:00:00Z" }).disagreementDays, 1);
    assert.equal(
      disagreementWords(1, "2026-06-01"),
      "Amazon's expiry is 1 day later than lwaClientSecretIssuedOn + 180 days (2026-11-28); Amazon's is the one that counts.",
    );
  });

  it("decides: a waiting secret always completes; a recent request is waited for; --if-due compares with the warning days", () => {
    const base = { ifDue: true, now, warningDays: 30, expiry: { expiresAt: "2027-01-10T00:00:00Z" }, newSecretWaiting: false };
    assert.equal(decideStep({ ...base, newSecretWaiting: true }).step, "complete");
    assert.equal(decideStep({ ...base, pendingSince: "2026-11-27T09:00:00Z" }).step, "wait-pending");
    assert.equal(decideStep({ ...base, pendingSince: "2026-11-25T09:00:00Z" }).step, "unanswered", "over a day: an incident, not a new request");
    assert.equal(decideStep({ ...base, pendingSince: "2026-11-19T13:00:00Z" }).step, "unanswered", "under 8 days: not yet evidence");
    assert.equal(decideStep({ ...base, pendingSince: "2026-11-18T09:00:00Z" }).step, "check-unanswered", "over 8 days: the stored secret is the evidence");
    assert.equal(decideStep({ ...base, pendingSince: "2026-11-18T09:00:00Z", amazonDidNotAct: true }).step, "not-due");
    assert.equal(decideStep({ ...base, ifDue: false, pendingSince: "2026-11-27T09:00:00Z" }).step, "wait-pending", "not even without --if-due");
    assert.equal(decideStep({ ...base, ifDue: false, pendingSince: "2026-11-27T09:00:00Z", requestAgain: true }).step, "rotate", "--request-again");
    assert.equal(decideStep({ ...base, ifDue: false, issuedAt: "2026-11-25T09:00:00Z" }).step, "recently-rotated");
    assert.equal(decideStep({ ...base }).step, "not-due");
    assert.equal(decideStep({ ...base, expiry: { expiresAt: "2026-12-27T00:00:00Z" } }).step, "rotate");
    assert.equal(decideStep({ ...base, expiry: {} }).step, "unknown-expiry");
    assert.equal(decideStep({ ...base, ifDue: false }).step, "rotate");
  });

  it("maps the rotation call's answers", () => {
    const ctx = { queueArn: QUEUE_ARN, spApiEndpoint: "https://sellingpartnerapi-eu.amazon.com" };
    assert.equal(judgeRotationRequest({ kind: "ok", value: undefined }, ctx), undefined);
    assert.match(judgeRotationRequest({ kind: "http", status: 403 }, ctx)!.fix, /lwaClientId and lwaClientSecret/);
    assert.match(judgeRotationRequest({ kind: "http", status: 400, message: "Application is not enrolled" }, ctx)!.fix, /Notification Preferences/);
    assert.match(judgeRotationRequest({ kind: "unreachable", code: "ECONNRESET" }, ctx)!.fix, /no new rotation is requested while one may be on its way/);
    assert.match(judgeRotationRequest({ kind: "unreachable", code: "ECONNREFUSED" }, ctx)!.cause, /Nothing was rotated/);
  });

  it("says times in plain words", () => {
    assert.equal(plainTime("2026-12-04T10:00:00Z", now), "Fri 4 Dec 2026, 10:00 UTC (in 7 days)");
    assert.equal(plainTime("2026-11-27T09:00:00Z", now), "Fri 27 Nov 2026, 09:00 UTC (3 hours ago)");
  });

  it("parses its arguments; anything else is a usage error", () => {
    assert.deepEqual(parseArgs(["--stack", "x", "--if-due", "--wait", "20", "--out", "b.hjson"]), {
      stack: "x",
      ifDue: true,
      waitSeconds: 20,
      out: "b.hjson",
      dryRun: false,
      requestAgain: false,
      help: false,
    });
    assert.equal(parseArgs(["--request-again"]).requestAgain, true);
    assert.throws(() => parseArgs(["--request-again", "--if-due"]), /not with --if-due/);
    for (const bad of [["--wait", "-1"], ["--wait", "99999"], ["--stack"], ["--bogus"]]) assert.throws(() => parseArgs(bad), UsageError, bad.join(" "));
  });
});
