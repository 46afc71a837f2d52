/**
 * The verify command without its process: input text, environment and output stream are arguments, the
 * exit code the result. cli.ts wraps it; tests call it directly.
 */
import * as Hjson from "hjson";
import { CREDENTIAL_FIELDS, LWA_ONLY_FIELDS } from "../../src/credentials";
import { assumeRole, checkCallerIdentity, createStsClient, SessionCredentials, StsFailure } from "./aws";
import { AWS_FIELDS, CredentialsBlock, LWA_FIELDS, parseCredentialsBlock, placeholdersAmong } from "./block";
import { findJobConfigCredentials } from "./job-config";
import { exchangeRefreshToken } from "./lwa";
import { withoutControls as printable, Redactor } from "../../lib/output";
import { exitCodeOf, formatStep, StepOutcome, StepReport, summaryLine } from "./report";
import { formatDuration, readSettings, realSleep, Settings, SettingsError } from "../../lib/net";
import { callMarketplaceParticipations, MARKETPLACE_PARTICIPATIONS_PATH, spApiEndpoint } from "./spapi";

export const EXIT = { ok: 0, failed: 1, usage: 2, internal: 3 } as const;

export interface VerifyOptions {
  /** The credentials block's text. */
  input: string;
  /** Where the text came from, for the first line ("credentials.hjson", "standard input"). */
  source?: string;
  /** Endpoint and retry variables (settings.ts); default process.env. */
  env?: NodeJS.ProcessEnv;
  out: { write(text: string): unknown };
  /**
   * --json: `out` receives one JSON document at the end (the steps, their outcomes, the summary), nothing else;
   * the lines a person reads go to `progress` when given (standard error), else nowhere.
   */
  json?: boolean;
  progress?: { write(text: string): unknown };
  /** --expect-user: the user name or ARN the key must belong to. */
  expectUser?: string;
  /** Replaced by tests that should not wait in real time. */
  sleep?: (ms: number) => Promise<void>;
  /**
   * The stack's further authorizations' blocks (output authorizationCredentials), by name: each one's refresh
   * token is exchanged at LWA once, after the five steps of the main block (the same app, role and key).
   */
  authorizations?: readonly { name: string; input: string }[];
}

const TITLES = {
  block: "Credentials block",
  key: "AWS access key (STS GetCallerIdentity)",
  role: "Role (STS AssumeRole)",
  lwa: "LWA token (refresh token exchange)",
  spApi: `SP-API call (GET ${MARKETPLACE_PARTICIPATIONS_PATH})`,
} as const;

/**
 * Verifies a credentials block, or every credentials object of a job config (JSON or HJSON), each named by its path;
 * a named credential (`credentials: "<name>"`) is reported as one: its values are not in the file.
 */
export async function runVerify(options: VerifyOptions): Promise<number> {
  const job = findJobConfigCredentials(options.input);
  if (!job) return verifyBlock(options);
  const source = options.source ?? "standard input";
  const lines = options.json ? options.progress : options.out;
  const print = (line: string) => lines?.write(printable(line) + "\n");
  print(
    `${source} is a job config: ${job.objects.length} credentials object${job.objects.length === 1 ? "" : "s"}` +
      (job.named.length > 0 ? `, ${job.named.length} named credential${job.named.length === 1 ? "" : "s"}` : "") +
      "; each is verified on its own.",
  );
  const results: { path: string; exitCode: number; document?: unknown }[] = [];
  for (const object of job.objects) {
    print("");
    let captured = "";
    const exitCode = await verifyBlock({
      ...options,
      input: object.block,
      source: `${source}: ${object.path}`,
      ...(options.json ? { out: { write: (text: string) => (captured += text) } } : {}),
    });
    results.push({ path: object.path, exitCode, ...(options.json ? { document: JSON.parse(captured) as unknown } : {}) });
  }
  for (const named of job.named) {
    print("");
    print(
      `- ${source}: ${named.path}: a named credential, ${JSON.stringify(printable(named.name))}: its values are in the product's Credentials ` +
        "page, not in this file. Verify that content: npm run verify -- <its JSON, as npm run credentials -- --format json writes it>.",
    );
  }
  const failed = results.filter((r) => r.exitCode !== 0);
  const exitCode = results.reduce((max, r) => Math.max(max, r.exitCode), 0);
  const summary =
    `${failed.length === 0 ? "OK" : "FAILED"}: ${results.length - failed.length} of ${results.length} credentials object${results.length === 1 ? "" : "s"} passed` +
    (failed.length > 0 ? ` (failed: ${failed.map((r) => r.path).join(", ")})` : "") +
    (job.named.length > 0 ? `; ${job.named.length} named (not checked here: ${job.named.map((n) => n.path).join(", ")})` : "") +
    ".";
  print("");
  print(summary);
  if (options.json) {
    const objects = results.map((r) => ({ path: r.path, ...(r.document as Record<string, unknown>) }));
    options.out.write(`${JSON.stringify({ source, exitCode, ok: exitCode === 0, jobConfig: true, objects, named: job.named, summary }, null, 2)}\n`);
  }
  return exitCode;
}

async function verifyBlock(options: VerifyOptions): Promise<number> {
  const redactor = new Redactor();
  const clean = (text: string) => redactor.scrub(printable(text));
  const lines = options.json ? options.progress : options.out;
  const print = (line: string) => lines?.write(clean(line) + "\n");
  // The document's every string passes through the same scrubbing as a printed line.
  const document = (exitCode: number, fields: Record<string, unknown>) =>
    options.out.write(
      JSON.stringify(
        { source: options.source ?? "standard input", exitCode, ...fields },
        (_key, value: unknown) => (typeof value === "string" ? clean(value) : value),
        2,
      ) + "\n",
    );

  let settings: Settings;
  try {
    settings = readSettings(options.env ?? process.env);
  } catch (error) {
    if (!(error instanceof SettingsError)) throw error;
    print(`verify: error: ${error.message}`);
    if (options.json) document(EXIT.usage, { error: error.message });
    return EXIT.usage;
  }

  print(`Verifying the credentials block from ${options.source ?? "standard input"}`);
  const reports: StepReport[] = [];
  const report = (number: number, title: string, outcome: StepOutcome): StepOutcome => {
    const entry = { number, title, outcome };
    reports.push(entry);
    formatStep(entry).forEach(print);
    return outcome;
  };
  const finish = async () => {
    // Steps 6 on: each further authorization's refresh token, one LWA exchange each (not run when step 1 failed).
    for (const [i, a] of (options.authorizations ?? []).entries())
      report(6 + i, authorizationTitle(a.name), await checkAuthorization(a.input, settings, redactor, reports[0]!));
    const summary = summaryLine(reports);
    print(summary);
    const exitCode = exitCodeOf(reports);
    if (options.json) document(exitCode, { ok: exitCode === 0, steps: reports.map((r) => ({ number: r.number, title: r.title, ...r.outcome })), summary });
    return exitCode;
  };

  const parsed = parseCredentialsBlock(options.input);
  // Before any message: a secret may sit in any field, or in a block that fails to validate.
  redactor.addSecret(...parsed.hide.secrets);
  redactor.addKeyId(...parsed.hide.keyIds);
  if (!parsed.ok) {
    report(1, TITLES.block, {
      status: "failed",
      cause: parsed.problems.join("; "),
      fix: lwaOnlyFields(options.input)
        ? `an LWA-only block (connectorAuth lwa) holds ${LWA_ONLY_FIELDS.join(", ")}, each a quoted string; the connector checks it when the job runs (docs/lwa-only.md). An iam block holds ${CREDENTIAL_FIELDS.join(", ")}.`
        : `the block must hold ${CREDENTIAL_FIELDS.join(", ")}, each a quoted string (as npm run credentials writes it).`,
    });
    const notRun = { status: "not-run", reason: "step 1 failed" } as const;
    [TITLES.key, TITLES.role, TITLES.lwa, TITLES.spApi].forEach((title, i) => report(2 + i, title, notRun));
    return finish();
  }
  const block = parsed.block;
  report(1, TITLES.block, blockOutcome(block, settings));

  const sleep = options.sleep ?? realSleep;
  const waitingFor = (action: string) => ({
    sleep,
    onWait: (f: StsFailure, attempt: number, waitMs: number) =>
      print(
        `  … ${action} answered ${f.code}: IAM can take up to a minute to propagate a new key, role or policy ` +
          `after pulumi up; waiting ${formatDuration(waitMs)} (retry ${attempt}).`,
      ),
  });

  // Steps 2 and 3: the AWS side.
  const { roleStep, session } = await awsSteps(block, settings, options.expectUser, { report, redactor, waitingFor });
  // Step 4: LWA, which does not depend on AWS, so it runs even when the AWS steps failed.
  const { lwaStep, accessToken } = await lwaTokenStep(block, settings, { report, redactor });
  // Step 5 needs the session (step 3) and the token (step 4).
  await spApiStep(block, settings, { roleStep, lwaStep, session, accessToken }, report);

  return finish();
}

/** Reports one step's outcome (printed, and kept for the summary) and gives it back. */
type Report = (number: number, title: string, outcome: StepOutcome) => StepOutcome;

/**
 * Steps 2 and 3, the AWS side: the key (GetCallerIdentity), then the role (AssumeRole). The session's secrets are
 * taught to `redactor`; the role step's outcome and the session are returned.
 */
async function awsSteps(
  block: CredentialsBlock,
  settings: Settings,
  expectUser: string | undefined,
  io: { report: Report; redactor: Redactor; waitingFor: (action: string) => Parameters<typeof assumeRole>[3] },
): Promise<{ roleStep: StepOutcome; session: SessionCredentials | undefined }> {
  const { report, redactor, waitingFor } = io;
  let session: SessionCredentials | undefined;
  let roleStep: StepOutcome;
  const awsPlaceholders = placeholdersAmong(block, AWS_FIELDS);
  if (awsPlaceholders.length > 0) {
    const reason = `placeholder in ${awsPlaceholders.join(", ")}`;
    report(2, TITLES.key, { status: "skipped", reason });
    roleStep = report(3, TITLES.role, { status: "skipped", reason });
  } else {
    const sts = createStsClient(block, settings);
    try {
      const keyStep = report(2, TITLES.key, await checkCallerIdentity(sts, block, settings, waitingFor("GetCallerIdentity"), expectUser));
      if (keyStep.status !== "passed") {
        roleStep = report(3, TITLES.role, { status: "not-run", reason: "step 2 failed" });
      } else {
        const assumed = await assumeRole(sts, block, settings, waitingFor("AssumeRole"));
        if (assumed.session) {
          session = assumed.session;
          redactor.addSecret(session.secretAccessKey, session.sessionToken);
          redactor.addKeyId(session.accessKeyId);
        }
        roleStep = report(3, TITLES.role, assumed.outcome);
      }
    } finally {
      sts.destroy();
    }
  }
  return { roleStep, session };
}

/** Step 4, LWA: the refresh token exchanged; the token is taught to `redactor` and returned with the step's outcome. */
async function lwaTokenStep(
  block: CredentialsBlock,
  settings: Settings,
  io: { report: Report; redactor: Redactor },
): Promise<{ lwaStep: StepOutcome; accessToken: string | undefined }> {
  const { report, redactor } = io;
  let accessToken: string | undefined;
  let lwaStep: StepOutcome;
  const lwaPlaceholders = placeholdersAmong(block, LWA_FIELDS);
  if (lwaPlaceholders.length > 0) {
    lwaStep = report(4, TITLES.lwa, { status: "skipped", reason: `placeholder in ${lwaPlaceholders.join(", ")}` });
  } else {
    const exchanged = await exchangeRefreshToken(block, settings);
    accessToken = exchanged.accessToken;
    redactor.addSecret(accessToken);
    lwaStep = report(4, TITLES.lwa, exchanged.outcome);
  }
  return { lwaStep, accessToken };
}

/** Step 5, the SP-API call: run with the session (step 3) and the token (step 4), else reported as not run or skipped. */
async function spApiStep(
  block: CredentialsBlock,
  settings: Settings,
  before: { roleStep: StepOutcome; lwaStep: StepOutcome; session: SessionCredentials | undefined; accessToken: string | undefined },
  report: Report,
): Promise<void> {
  const { roleStep, lwaStep, session, accessToken } = before;
  const blockedBy = (
    [
      [3, roleStep],
      [4, lwaStep],
    ] as const
  )
    .filter(([, step]) => step.status === "failed" || step.status === "not-run")
    .map(([n]) => n);
  if (blockedBy.length > 0) {
    report(5, TITLES.spApi, { status: "not-run", reason: `it needs step ${blockedBy.join(" and ")} to pass` });
  } else if (!session || !accessToken) {
    report(5, TITLES.spApi, { status: "skipped", reason: "it needs the role session and the LWA token, and a step giving one was skipped" });
  } else {
    report(5, TITLES.spApi, await callMarketplaceParticipations(block, accessToken, session, settings));
  }
}

/**
 * A further authorization's block: its refresh token exchanged at LWA once. The app's values are the main block's;
 * a token LWA refuses is that authorization's alone (invalid_grant: the seller authorizes again).
 */
async function checkAuthorization(input: string, settings: Settings, redactor: Redactor, first: StepReport): Promise<StepOutcome> {
  if (first.outcome.status === "failed") return { status: "not-run", reason: "step 1 failed" };
  const other = parseCredentialsBlock(input);
  redactor.addSecret(...other.hide.secrets);
  redactor.addKeyId(...other.hide.keyIds);
  if (!other.ok) return { status: "failed", cause: `its block does not parse: ${other.problems.join("; ")}`, fix: "run pulumi up, then verify again." };
  const placeholders = placeholdersAmong(other.block, LWA_FIELDS);
  if (placeholders.length > 0) return { status: "skipped", reason: `placeholder in ${placeholders.join(", ")}` };
  const exchanged = await exchangeRefreshToken(other.block, settings);
  redactor.addSecret(exchanged.accessToken);
  const outcome = exchanged.outcome;
  return outcome.status === "passed"
    ? { ...outcome, summary: `${outcome.summary}; region ${other.block.values.region} (SP-API ${other.block.spApiRegion})` }
    : outcome;
}

function authorizationTitle(name: string): string {
  // Not "Authorization ...": no printed line may look like an HTTP authorization header (verify's own guard).
  return `Refresh token of ${printable(name)} (LWA token exchange)`;
}

function blockOutcome(block: CredentialsBlock, settings: Settings): StepOutcome {
  const details: string[] = [];
  if (block.placeholders.length > 0) {
    const skipped = [
      placeholdersAmong(block, AWS_FIELDS).length > 0 ? "the AWS steps (2, 3)" : "",
      placeholdersAmong(block, LWA_FIELDS).length > 0 ? "the LWA steps (4, 5)" : "",
    ].filter(Boolean);
    details.push(`Placeholders still in place: ${block.placeholders.join(", ")}; ${skipped.join(" and ")} are skipped until they hold real values.`);
  }
  details.push(...block.remarks.map((r) => `Note: ${r}.`));
  return {
    status: "passed",
    summary: `all ${CREDENTIAL_FIELDS.length} fields present; region ${block.values.region} (SP-API ${block.spApiRegion}, ${spApiEndpoint(block, settings)})`,
    details,
  };
}

/** The input holds LWA fields and none of the IAM ones: an LWA-only block (connectorAuth lwa), whole or not. */
function lwaOnlyFields(input: string): boolean {
  let parsed: unknown;
  try {
    parsed = Hjson.parse(input.replace(/^\uFEFF/, ""));
  } catch {
    return false;
  }
  if (typeof parsed !== "object" || parsed === null) return false;
  const inner = (parsed as { credentials?: unknown }).credentials;
  const object = (typeof inner === "object" && inner !== null ? inner : parsed) as Record<string, unknown>;
  const lwa = LWA_ONLY_FIELDS as readonly string[];
  return lwa.some((f) => f in object) && !CREDENTIAL_FIELDS.some((f) => !lwa.includes(f) && f in object);
}
