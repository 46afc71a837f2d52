/**
 * npm run demo: an offline tour of the kit on its own fakes, in a throw-away directory. Every step runs the real
 * command (the same code as `npm run <command>`) against stand-ins on 127.0.0.1: the stand-in Pulumi CLI
 * (test/fake-pulumi.ts: a fake engine and backend), fake IAM (test/fake-iam.ts), fake STS, LWA and SP-API
 * (test/fake-amazon.ts), and a fake Application Management API and SQS queue (test/fake-lwa-rotation.ts). It never
 * reads or changes your stacks, your AWS account, Amazon or your files: PULUMI_* and AWS_* are taken out of the
 * commands' environment, HOME and the working directory are the throw-away one, and it is removed at the end.
 * Exit code: 0 the tour ran; 1 a step did not go as a real run would (its output says why).
 */
import { spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as Hjson from "hjson";
import { helpText, parseCommandLine, runCommand, usageErrorText } from "../lib/cli";
import { addDays, type SlotRecord } from "../src/lifecycle";
import { FakeAmazon, SECRETS } from "../test/fake-amazon";
import { FakeIam, type FakeKey } from "../test/fake-iam";
import { FakeLwaRotation, REGION } from "../test/fake-lwa-rotation";
import { FAKE_ACCOUNT, FakePulumi } from "../test/fake-pulumi";

export const USAGE = [
  "Usage: npm run demo -- [--help]",
  "An offline tour on the kit's own fakes, in a throw-away directory: a stack made, its block written and verified,",
  "a due LWA secret rotated through a fake Application Management API and queue, the block delivered into a sample",
  "job config, the access key rotated over two runs by evidence, status before and after. Touches none of your",
  "stacks, accounts or files. Exit code: 0 the tour ran, 1 a step went wrong.",
].join("\n");

const REPO = path.resolve(__dirname, "..");
const STACK = "demo-acme";
const USER = "sp-api-demo-acme";
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

const say = (line = "") => process.stdout.write(`${line}\n`);

/** Runs one command as `npm run <command> -- <args>` runs it, printing the line typed and the command's output. */
function command(name: string, args: string[], env: NodeJS.ProcessEnv, cwd: string): Promise<{ code: number | null; out: string }> {
  say(`$ npm run ${name}${args.length > 0 ? ` -- ${args.join(" ")}` : ""}`);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["-r", path.join(REPO, "tools", "register.js"), path.join(REPO, "commands", name, "cli.ts"), ...args], {
      cwd: REPO,
      env: { ...env, INIT_CWD: cwd, COLUMNS: env.COLUMNS ?? "110" },
    });
    let out = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (out += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (out += d));
    child.on("error", reject);
    child.on("close", (code) => {
      for (const line of out.trimEnd().split("\n")) say(`    ${line}`);
      say();
      resolve({ code, out });
    });
    child.stdin.end();
  });
}

const isoAgo = (ms: number) => new Date(Date.now() - ms).toISOString().replace(/\.\d{3}Z$/, "Z");

/** What IAM's record says of the stack's keys: the newest used `current` hours ago, the older one `previous`. */
function mirror(iam: FakeIam, cli: FakePulumi, use: { current?: number; previous?: number }): void {
  const state = cli.stack(STACK);
  const slots = state.outputs.accessKeySlots!.value as SlotRecord[];
  const newest = Math.max(...slots.map((s) => s.generation));
  const keys = slots.map((s): FakeKey => {
    const key = state.keys[s.slot]!;
    const hours = s.generation === newest ? use.current : use.previous;
    return {
      id: key.id,
      status: s.status ?? "Active",
      createDate: key.createDate,
      ...(hours === undefined ? {} : { lastUsed: { date: isoAgo(hours * HOUR), service: "sts", region: "us-east-1" } }),
    };
  });
  iam.users = new Map([[USER, keys]]);
}

export async function runDemo(): Promise<number> {
  const started = Date.now();
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "sp-api-iam-demo-"));
  const iam = new FakeIam();
  const amazon = new FakeAmazon();
  const lwa = new FakeLwaRotation();
  let cli: FakePulumi | undefined;
  const failures: string[] = [];
  const expect = (step: string, result: { code: number | null; out: string }, code: number, says: RegExp) => {
    if (result.code !== code || !says.test(result.out)) failures.push(`${step}: exit ${result.code}, expected ${code} and ${says}`);
  };
  try {
    say("sp-api-iam demo: an offline tour on the kit's own fakes.");
    say(`Everything happens in ${work} (removed at the end), against stand-ins on 127.0.0.1:`);
    say("  the stand-in Pulumi CLI (a fake engine and backend), fake IAM, fake STS / LWA / SP-API, and a fake");
    say("  Application Management API with its SQS queue. No Pulumi CLI, AWS account or Amazon is used, and none");
    say("  of your stacks or files is read or changed. Each step runs the real command; its output is what a real");
    say("  run prints, with the fakes' names and values.");
    say();

    await iam.start();
    await amazon.start();
    lwa.longPollScale = 0.05; // an empty long poll ends in a twentieth of its time
    await lwa.start();
    // The stack's LWA values are the fakes' own; LWA accepts the stack's current secret.
    lwa.validSecrets.clear();
    lwa.validSecrets.add(SECRETS.clientSecret);

    // Step 1: a stack, as `npm run up` leaves it: its access key 80 days old (due: 90 days), its LWA secret issued
    // 170 days ago (Amazon's 180 days end in 10), a sample job config listed for delivery.
    const jobs = path.join(work, "jobs");
    fs.mkdirSync(jobs);
    const job = path.join(jobs, "acme-orders.json");
    fs.writeFileSync(
      job,
      `${JSON.stringify(
        {
          name: "acme-orders",
          input: {
            use: "amazon_selling_partner_api.io#AmazonSPApiInput",
            endpoint: "https://sellingpartnerapi-na.amazon.com",
            path: "/orders/v0/orders",
            credentials: {
              region: "us-east-1",
              role_arn: "<the role ARN>",
              aws_access_key_id: "<access key id>",
              aws_secret_access_key: "<secret access key>",
              client_id: SECRETS.clientId,
              client_secret: "<client secret>",
              refresh_token: SECRETS.refreshToken,
            },
          },
        },
        null,
        2,
      )}\n`,
    );
    fs.copyFileSync(path.join(REPO, "Pulumi.yaml"), path.join(work, "Pulumi.yaml"));
    cli = FakePulumi.create();
    say("1. A stack, as npm run up leaves it (made by the stand-in engine: a fake deployment, no AWS account).");
    cli.setNow(new Date(Date.now() - 80 * DAY).toISOString());
    cli.addStack(STACK, {
      config: {
        spApiRegion: "na",
        userName: USER,
        lwaRotation: "true",
        lwaClientId: SECRETS.clientId,
        lwaClientSecretIssuedOn: addDays(new Date().toISOString().slice(0, 10), -170),
        jobConfigs: JSON.stringify([job]),
      },
      secrets: { lwaClientSecret: SECRETS.clientSecret, lwaRefreshToken: SECRETS.refreshToken },
      account: FAKE_ACCOUNT,
      provider: { region: REGION },
      selected: true,
    });
    cli.setNow(new Date().toISOString());
    say(`   Stack ${STACK}: IAM user ${USER}, role SellingPartnerAPI, one access key (80 days old), an SQS queue for Amazon's notices.`);
    say();
    const base = cli.env({ HOME: work, SP_API_IAM_PROJECT_DIR: work, NO_COLOR: "1" });
    const awsEnv = { ...base, ...iam.env(), SP_API_AWS_TIMEOUT_MS: "5000" };
    const lwaEnv = { ...awsEnv, SP_API_LWA_ENDPOINT: lwa.url, SP_API_ENDPOINT: lwa.url, AWS_ENDPOINT_URL_SQS: lwa.url, SP_API_ROTATE_LWA_TIMEOUT_MS: "5000" };

    say("2. What needs doing, across every stack (one here):");
    expect("status before", await command("status", [], base, work), 0, /DUE/);

    say("3. The stack's credentials block, written and verified (fake STS, LWA and SP-API):");
    expect("credentials", await command("credentials", ["--stack", STACK, "acme.hjson"], base, work), 0, /^Wrote acme\.hjson \(mode 600\)/m);
    const block = (Hjson.parse(fs.readFileSync(path.join(work, "acme.hjson"), "utf8")) as { credentials: Record<string, string> }).credentials;
    amazon.behaviour.user = { keyId: block.aws_access_key_id!, keySecret: block.aws_secret_access_key!, roleArn: block.role_arn! };
    amazon.behaviour.callerArn = cli.stack(STACK).outputs.userArn!.value as string;
    expect("verify", await command("verify", ["acme.hjson"], { ...base, ...amazon.env(), SP_API_VERIFY_RETRY_BUDGET_MS: "0" }, work), 0, /^OK: 5 passed\.$/m);

    say("4. The LWA secret is due: rotated through the fake Application Management API; the new secret arrives on the");
    say("   fake queue, is stored, deployed and written to a new block:");
    mirror(iam, cli, { current: 2 });
    expect("rotate-lwa", await command("rotate-lwa", ["--stack", STACK, "--if-due", "--out", "acme.hjson"], lwaEnv, work), 0, /acme\.hjson/);

    say("5. The new block delivered into the sample job config (only this stack's credentials in it are changed):");
    expect("credentials --into", await command("credentials", ["--stack", STACK, "--into", "jobs/"], base, work), 0, /updated/);

    say("6. The access key, rotated over two runs, each deciding from IAM's record of the keys' use (fake IAM).");
    say("   First run: the key is due, so a second key is made and a new block written; the old key stays active:");
    mirror(iam, cli, { current: 2 });
    expect(
      "rotate-key start",
      await command("rotate-key", ["--stack", STACK, "--if-due", "--out", "acme.hjson"], awsEnv, work),
      0,
      /Wrote the new credentials block/,
    );
    expect("credentials --into (new key)", await command("credentials", ["--stack", STACK, "--into", "jobs/"], base, work), 0, /updated/);
    say("   Two days later, IAM shows the new key in use and the old one unused for 49 hours (keyQuietHours is 48):");
    mirror(iam, cli, { current: 1, previous: 49 });
    expect("rotate-key deactivate", await command("rotate-key", ["--stack", STACK, "--if-due", "--out", "acme.hjson"], awsEnv, work), 0, /deactivat/i);

    say("7. And now:");
    expect("status after", await command("status", [], base, work), 0, /OK/);
  } finally {
    cli?.cleanup();
    await Promise.allSettled([iam.stop(), amazon.stop(), lwa.stop()]);
    fs.rmSync(work, { recursive: true, force: true });
  }
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  if (failures.length > 0) {
    say(`The tour went wrong (${seconds} s): ${failures.join("; ")}.`);
    return 1;
  }
  say(`End of the tour (${seconds} s); its directory is removed. For real: README, Quick start (npm run doctor checks the machine first).`);
  return 0;
}

export async function main(argv: readonly string[]): Promise<number> {
  const parsed = parseCommandLine(argv, {});
  if (parsed.kind === "help") {
    process.stdout.write(helpText(USAGE));
    return 0;
  }
  if (parsed.kind === "error") {
    process.stderr.write(usageErrorText("demo", USAGE, parsed.message));
    return 2;
  }
  return runDemo();
}

if (require.main === module) runCommand("demo", () => main(process.argv.slice(2)));
