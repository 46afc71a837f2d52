/**
 * npm run demo: the kit's commands, each run for real (its cli.ts in a child process, as `npm run <command>` runs
 * it), against the kit's own fakes, in a throw-away directory. The fakes are the test suite's (test/: the stand-in
 * Pulumi CLI, fake STS/LWA/SP-API, IAM, and LWA rotation with its queue), on 127.0.0.1 only; every endpoint
 * variable the commands read points at one of them, and the children get a home, a Pulumi backend, a project
 * directory and a lock directory of the demo's own: nothing of the user's (stacks, backend, files, AWS profile,
 * proxy) is read or changed.
 */
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as Hjson from "hjson";
import { onExit } from "signal-exit";
import { FakeAmazon, SECRETS } from "../../test/fake-amazon";
import { FakeIam, keysOfStack } from "../../test/fake-iam";
import { FakeLwaRotation } from "../../test/fake-lwa-rotation";
import { FakePulumi } from "../../test/fake-pulumi";

const REPO = path.resolve(__dirname, "..", "..");
const REGISTER = path.join(REPO, "tools", "register.js");
const STACK = "demo";
const DAY = 86_400_000;
/** The job config the block is delivered into: a copy of this fixture. */
const FIXTURE = path.join(REPO, "test", "fixtures", "jobs", "orders.json");

export interface DemoOptions {
  keep: boolean;
  print: (line: string) => void;
  /** Where the throw-away directory is made (default the system's temporary directory). */
  parent?: string;
  /** The terminal's width, for status's table. */
  columns?: number;
}

interface StepRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The fakes, started, and the directories of one demo. */
interface Demo {
  work: string;
  cli: FakePulumi;
  amazon: FakeAmazon;
  iam: FakeIam;
  lwa: FakeLwaRotation;
  print: (line: string) => void;
  columns: number;
}

const hostOf = (url: string) => new URL(url).host;

/** Variables of the user's that could send a command elsewhere than the fakes, or read the user's settings. */
function isForeign(name: string): boolean {
  return (
    /^(PULUMI_|AWS_|SP_API_|RUNNER_|npm_|NPM_CONFIG_)/i.test(name) ||
    /^(https?|all|no)_proxy$/i.test(name) ||
    ["INIT_CWD", "HOME", "USERPROFILE", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME", "TMPDIR", "NODE_OPTIONS", "NODE_COMPILE_CACHE"].includes(name)
  );
}

/** The children's environment: the stand-in CLI first on PATH, every endpoint a fake, every directory the demo's. */
function baseEnv(demo: Demo): NodeJS.ProcessEnv {
  const home = path.join(demo.work, "home");
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) if (!isForeign(name)) env[name] = value;
  // The stand-in's own: PATH with its `pulumi` first, its project directory and lock directory.
  const stand = demo.cli.env();
  for (const name of ["PATH", "SP_API_IAM_PROJECT_DIR", "SP_API_IAM_LOCK_DIR"]) env[name] = stand[name];
  return {
    ...env,
    PULUMI_CONFIG_PASSPHRASE: "demo-passphrase",
    PULUMI_HOME: path.join(home, ".pulumi"),
    PULUMI_BACKEND_URL: `file://${path.join(demo.cli.dir, "state")}`,
    HOME: home,
    XDG_CONFIG_HOME: path.join(home, ".config"),
    XDG_CACHE_HOME: path.join(home, ".cache"),
    TMPDIR: path.join(demo.work, "tmp"),
    AWS_CONFIG_FILE: path.join(home, ".aws", "config"),
    AWS_SHARED_CREDENTIALS_FILE: path.join(home, ".aws", "credentials"),
    AWS_EC2_METADATA_DISABLED: "true",
    ...demo.iam.env(),
    ...demo.amazon.env(),
    AWS_ENDPOINT_URL_SQS: demo.lwa.url,
    AWS_ENDPOINT_URL: demo.iam.url,
    NO_PROXY: "127.0.0.1,localhost",
    SP_API_AWS_TIMEOUT_MS: "5000",
    SP_API_ROTATE_LWA_TIMEOUT_MS: "5000",
    INIT_CWD: demo.work,
    COLUMNS: String(demo.columns),
    NO_COLOR: "1",
  };
}

/** Runs a child to its end, answering nothing on its standard input but `input`. */
function runChild(file: string, args: string[], opts: { cwd: string; env: NodeJS.ProcessEnv; input?: string }): Promise<StepRun> {
  const child = spawn(file, args, { cwd: opts.cwd, env: opts.env });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8");
  child.stderr.setEncoding("utf8");
  child.stdout.on("data", (d: string) => (stdout += d));
  child.stderr.on("data", (d: string) => (stderr += d));
  child.stdin.end(opts.input ?? "");
  return new Promise((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

function show(demo: Demo, typed: string, run: StepRun): void {
  demo.print(`$ ${typed}`);
  for (const text of [run.stdout, run.stderr]) for (const line of text.replace(/\n$/, "").split("\n")) if (text) demo.print(`  ${line}`);
}

class StepFailed extends Error {}

/** A kit command, for real: `node -r tools/register.js commands/<name>/cli.ts`, as `npm run <name>` runs it. */
async function command(demo: Demo, name: string, args: string[], opts: { env?: NodeJS.ProcessEnv; ok?: number[] } = {}): Promise<StepRun> {
  const env = { ...baseEnv(demo), ...opts.env };
  const run = await runChild(process.execPath, ["-r", REGISTER, path.join(REPO, "commands", name, "cli.ts"), ...args], { cwd: demo.work, env });
  show(demo, `npm run ${name} -- ${args.join(" ")}`, run);
  if (!(opts.ok ?? [0]).includes(run.code ?? -1)) throw new StepFailed(`npm run ${name} exited ${run.code}`);
  return run;
}

/** The stand-in Pulumi CLI, run as a person runs `pulumi` in the project directory. */
async function pulumi(demo: Demo, args: string[], input?: string): Promise<StepRun> {
  const run = await runChild(path.join(demo.cli.binDir, "pulumi"), args, { cwd: demo.cli.projectDir, env: baseEnv(demo), input });
  show(demo, `pulumi ${args.join(" ")}${input === undefined ? "" : "   (the value on standard input)"}`, run);
  if (run.code !== 0) throw new StepFailed(`pulumi ${args[0]} exited ${run.code}`);
  return run;
}

function header(demo: Demo, title: string, fakes: string): void {
  demo.print("");
  demo.print(`== ${title} -- ${fakes}`);
}

const blockIn = (file: string) => (Hjson.parse(fs.readFileSync(file, "utf8")) as { credentials: Record<string, string> }).credentials;

/** 1: a stack made through the stand-in CLI, deployed as if 80 days ago (its key due) with an LWA secret 176 days old. */
async function makeStack(demo: Demo): Promise<void> {
  header(demo, "1. A stack made", `the stand-in Pulumi CLI (fake; backend and project under ${demo.cli.dir})`);
  const today = new Date();
  await pulumi(demo, ["stack", "init", STACK]);
  await pulumi(demo, ["config", "set", "aws:region", "eu-west-1"]);
  await pulumi(demo, ["config", "set", "sp-api-iam:spApiRegion", "na"]);
  await pulumi(demo, ["config", "set", "sp-api-iam:lwaClientId", SECRETS.clientId]);
  await pulumi(demo, ["config", "set", "--secret", "sp-api-iam:lwaClientSecret"], SECRETS.clientSecret);
  await pulumi(demo, ["config", "set", "--secret", "sp-api-iam:lwaRefreshToken"], SECRETS.refreshToken);
  await pulumi(demo, ["config", "set", "sp-api-iam:lwaRotation", "true"]);
  await pulumi(demo, ["config", "set", "sp-api-iam:lwaClientSecretIssuedOn", new Date(today.getTime() - 176 * DAY).toISOString().slice(0, 10)]);
  demo.print("(the stand-in's clock is set 80 days back for this first deployment: the access key it makes is due for rotation)");
  demo.cli.setNow(new Date(today.getTime() - 80 * DAY).toISOString());
  await pulumi(demo, ["up", "--yes"]);
  demo.cli.setNow(today.toISOString());
}

async function status(demo: Demo, title: string): Promise<void> {
  header(demo, title, "reads the stand-in Pulumi CLI's backend (fake) only");
  // Exit 1: something is overdue, which is what a status before the rotations may well say.
  await command(demo, "status", ["--stack", STACK], { ok: [0, 1] });
}

/** 3: the block written, and verified against the fake STS, LWA and SP-API. */
async function writeAndVerify(demo: Demo): Promise<void> {
  header(demo, "3. The credentials block written", "from the stand-in Pulumi CLI's outputs (fake)");
  await command(demo, "credentials", ["--stack", STACK, "credentials.hjson"]);
  // The fake STS knows the key the stand-in made, as AWS knows the one pulumi up made.
  demo.amazon.acceptBlock(blockIn(path.join(demo.work, "credentials.hjson")), demo.cli.stack(STACK).outputs.userArn!.value as string);
  header(demo, "4. The block verified", `fake STS, LWA and SP-API on ${hostOf(demo.amazon.url)}`);
  await command(demo, "verify", ["credentials.hjson"]);
}

/** 5: the LWA secret, due, rotated through the fake Application Management API and its queue. */
async function rotateLwa(demo: Demo): Promise<void> {
  header(demo, "5. The LWA client secret rotated (due: it expires in 4 days)", `fake LWA, Application Management API and SQS queue on ${hostOf(demo.lwa.url)}`);
  // LWA holds the secret the stack was made with.
  demo.lwa.validSecrets.clear();
  demo.lwa.validSecrets.add(SECRETS.clientSecret);
  await command(demo, "rotate-lwa", ["--stack", STACK, "--if-due", "--wait", "30", "--out", "credentials-lwa-rotated.hjson"], {
    env: { SP_API_LWA_ENDPOINT: demo.lwa.url, SP_API_ENDPOINT: demo.lwa.url },
  });
}

/** 6-8: the key rotated over two runs, the block delivered into a job config between them, by IAM's evidence. */
async function rotateKey(demo: Demo): Promise<void> {
  const iam = demo.iam;
  iam.userName = demo.cli.stack(STACK).outputs.userName!.value as string;
  // IAM's record: the key was used two hours ago (by the jobs, and by the verify above).
  iam.keys = keysOfStack(demo.cli.stack(STACK), { current: 2 });
  header(demo, "6. The access key rotated, run 1 of 2 (the key is 80 days old)", `fake IAM on ${hostOf(iam.url)}`);
  await command(demo, "rotate-key", ["--stack", STACK, "--if-due", "--out", "credentials-key-rotated.hjson"]);

  header(demo, "7. The new block delivered into a job config", `the stand-in Pulumi CLI's outputs (fake) into a sample job config`);
  demo.print(`(jobs/orders.json: a copy of test/fixtures/jobs/${path.basename(FIXTURE)} set up with the block of step 3, as a person`);
  demo.print(" would have set it up; it keeps its own refresh token, another authorization of the same app)");
  const jobs = path.join(demo.work, "jobs");
  fs.mkdirSync(jobs);
  // The job holds the stack's first key and the app's client id: the field rule finds it by them, not by its role.
  const job = JSON.parse(fs.readFileSync(FIXTURE, "utf8")) as { input: { credentials: Record<string, string> } };
  const first = blockIn(path.join(demo.work, "credentials.hjson"));
  for (const field of ["role_arn", "aws_access_key_id", "aws_secret_access_key", "client_id", "client_secret"]) job.input.credentials[field] = first[field]!;
  fs.writeFileSync(path.join(jobs, "orders.json"), `${JSON.stringify(job, null, 2)}\n`);
  await command(demo, "credentials", ["--stack", STACK, "--into", "jobs/orders.json"]);

  demo.print("");
  demo.print("(fake IAM's evidence moved, as two days of the job running on the new block would move it: the new key last used");
  demo.print(" an hour ago, the old one 49 hours ago, past keyQuietHours)");
  iam.keys = keysOfStack(demo.cli.stack(STACK), { current: 1, previous: 49 });
  header(demo, "8. The access key rotated, run 2 of 2", `fake IAM on ${hostOf(iam.url)}`);
  await command(demo, "rotate-key", ["--stack", STACK, "--if-due"]);
}

async function startFakes(work: string, print: (line: string) => void, columns: number): Promise<Demo> {
  const cli = FakePulumi.create({ parent: work });
  const amazon = new FakeAmazon();
  const iam = new FakeIam();
  const lwa = new FakeLwaRotation();
  for (const fake of [amazon, iam, lwa]) await fake.start();
  for (const dir of ["home", "tmp"]) fs.mkdirSync(path.join(work, dir));
  return { work, cli, amazon, iam, lwa, print, columns };
}

async function stopFakes(demo: Demo, keep: boolean): Promise<void> {
  for (const fake of [demo.amazon, demo.iam, demo.lwa]) await fake.stop();
  if (keep) demo.cli.stop();
  else demo.cli.cleanup();
}

/** The whole tour; its exit code (0: every step did what it shows, 1: one failed, named). */
export async function runDemo(opts: DemoOptions): Promise<number> {
  const started = Date.now();
  const work = fs.realpathSync(fs.mkdtempSync(path.join(opts.parent ?? os.tmpdir(), "sp-api-iam-demo-")));
  const print = opts.print;
  print(`sp-api-iam demo: the kit's commands, run for real against its own fakes, in ${work}`);
  print(`(removed at the end${opts.keep ? ": kept, --keep" : "; --keep keeps it"}). Nothing reaches AWS, Amazon or a Pulumi backend of yours;`);
  print("no stack, file or setting of yours is read or changed. The values shown are the fakes'.");
  const demo = await startFakes(work, print, Math.max(opts.columns ?? 0, 160));
  // Interrupted (Ctrl-C, a signal, an exit): the stand-in's daemon stopped, the directory removed all the same.
  const removeExitHook = onExit(() => {
    if (opts.keep) demo.cli.stop();
    else {
      demo.cli.cleanup();
      fs.rmSync(work, { recursive: true, force: true });
    }
  });
  let code = 0;
  try {
    await makeStack(demo);
    await status(demo, "2. status, before");
    await writeAndVerify(demo);
    await rotateLwa(demo);
    await rotateKey(demo);
    await status(demo, "9. status, after");
  } catch (error) {
    if (!(error instanceof StepFailed)) throw error;
    print("");
    print(`npm run demo: error: ${error.message}; the tour stops here.`);
    code = 1;
  } finally {
    removeExitHook();
    await stopFakes(demo, opts.keep);
    if (!opts.keep) fs.rmSync(work, { recursive: true, force: true });
  }
  print("");
  print(`Done in ${((Date.now() - started) / 1000).toFixed(1)} s.${opts.keep ? ` Kept: ${work}` : ""}`);
  return code;
}
