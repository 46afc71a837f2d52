/**
 * `npm run adopt`, the effects: read the stack and what IAM holds for its user and role, decide (decide.ts), and
 * take at most one step: record and deploy (pulumi up), or remove the manual leftovers through IAM.
 *
 * Safe to kill at any line: a step's config is written before its deployment, and the next run reads the
 * deployment's own output (adoptionDeployed) to tell a finished step from a killed one, which it runs again. The
 * leftovers are removed by what IAM still lists, so a second removal finds nothing to do.
 */
import {
  DeletePolicyCommand,
  DeletePolicyVersionCommand,
  DeleteRolePolicyCommand,
  DeleteUserPolicyCommand,
  DetachRolePolicyCommand,
  DetachUserPolicyCommand,
  GetGroupPolicyCommand,
  GetPolicyCommand,
  GetPolicyVersionCommand,
  GetRoleCommand,
  GetRolePolicyCommand,
  GetUserCommand,
  GetUserPolicyCommand,
  IAMClient,
  ListAccessKeysCommand,
  ListAttachedRolePoliciesCommand,
  ListAttachedUserPoliciesCommand,
  ListGroupsForUserCommand,
  ListPolicyVersionsCommand,
  ListRolePoliciesCommand,
  ListUserPoliciesCommand,
  type Tag,
} from "@aws-sdk/client-iam";
import { ACCESS_KEY_ID, ConfigError, validateConfig, type AdoptionRecord, type Leftover } from "../../src/config";
import { errorLine } from "../../lib/cli";
import { type HeldLocks, stackLock, withLocks } from "../../lib/lock";
import { awsClientConfig, iamSigningRegion } from "../../lib/net";
import { maskKeyId, printable, Redactor } from "../../lib/output";
import { PulumiError, type PulumiStack, type StackConfigView } from "../../lib/pulumi";
import {
  decide,
  kitGroupName,
  kitGroupPolicyName,
  parsePolicyDocument,
  type Comparison,
  type Decision,
  type FoundIam,
  type FoundPolicy,
  type FoundRole,
  type FoundUser,
  type Step,
} from "./decide";

export interface AdoptReport {
  stack: string;
  phase: Decision["phase"] | "unknown";
  step: Step;
  took: boolean;
  dryRun: boolean;
  reason: string;
  resumed: boolean;
  comparison: Comparison[];
  /** The manual leftovers: removed by this run, or to be removed by adoption's last step. */
  leftovers: string[];
  /** What this run removed through IAM (the leftovers step). */
  removed: string[];
  /** Leftover policies this run detached but kept, and why (attached elsewhere, or a permissions boundary). */
  kept: string[];
  /** When the role's trust names the account root (before deployment 2): what that trust allows. */
  rootTrust?: string;
  /** The customer's key the adoption records (masked). */
  adoptedKey?: string;
  exitCode: 0 | 1 | 2;
}

export interface AdoptOptions {
  dryRun: boolean;
  /** Deployment 2 may narrow a trust that names the account root to the user (--narrow-trust). */
  narrowTrust?: boolean;
  env?: NodeJS.ProcessEnv;
  print: (line: string) => void;
}

const STEP_TEXT: Record<Step, string> = {
  import: "deployment 1: record what IAM holds and import the user and role as found (pulumi up)",
  kit: "deployment 2: the kit's own properties on the user and role (pulumi up)",
  leftovers: "remove the manual leftovers through IAM, then record the adoption as done",
  none: "nothing",
};

class IamReadError extends Error {}

const MANAGED_ARN = /^arn:aws[a-z-]*:iam::aws:policy\//;

const DELETED_IF_UNUSED = " (deleted too if nothing else attaches it or uses it as a permissions boundary)";

function describeLeftover(l: Leftover): string {
  switch (l.kind) {
    case "role-managed-policy":
      return `managed policy ${l.arn} attached to the role${MANAGED_ARN.test(l.arn ?? "") ? "" : DELETED_IF_UNUSED}`;
    case "role-inline-policy":
      return `inline policy ${l.name} on the role`;
    case "user-managed-policy":
      return `managed policy ${l.arn} attached to the user${MANAGED_ARN.test(l.arn ?? "") ? "" : DELETED_IF_UNUSED}`;
    case "user-inline-policy":
      return `inline policy ${l.name} on the user`;
  }
}

const errorName = (error: unknown) => (error as { name?: string })?.name ?? "";
const isNoSuchEntity = (error: unknown) => errorName(error) === "NoSuchEntity" || errorName(error) === "NoSuchEntityException";

/** One IAM client, every request bounded in time, failures turned into one sentence naming the permission. */
class Iam {
  private readonly client: IAMClient;
  private readonly timeoutMs: number;

  constructor(
    view: StackConfigView,
    env: NodeJS.ProcessEnv,
    private readonly redactor: Redactor,
  ) {
    const settings = awsClientConfig(view, env, { service: "IAM", region: iamSigningRegion(view.provider.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION) });
    this.client = new IAMClient(settings);
    this.timeoutMs = settings.requestHandler.requestTimeout;
  }

  destroy(): void {
    this.client.destroy();
  }

  /** Sends one command; NoSuchEntity is `undefined` when `absentIsUndefined`, any other failure an IamReadError. */
  async call<T>(permission: string, command: object, absentIsUndefined = false): Promise<T | undefined> {
    const signal = AbortSignal.timeout(this.timeoutMs);
    try {
      return (await this.client.send(command as never, { abortSignal: signal })) as T;
    } catch (error) {
      if (absentIsUndefined && isNoSuchEntity(error)) return undefined;
      const name = errorName(error);
      const message = this.redactor.scrub(printable((error as Error)?.message ?? String(error)));
      if (name === "AccessDenied" || name === "AccessDeniedException" || /not authorized to perform/.test(message)) {
        throw new IamReadError(`IAM refused ${permission} to the operator's credentials: ${message}. Fix: allow ${permission} (docs/adoption.md, Permissions)`);
      }
      if (signal.aborted || name === "AbortError" || name === "TimeoutError") {
        throw new IamReadError(
          `IAM did not answer ${permission} within ${this.timeoutMs} ms (SP_API_AWS_TIMEOUT_MS); nothing more was changed. Run again later`,
        );
      }
      if (name === "CredentialsProviderError")
        throw new IamReadError(`no AWS credentials for IAM: ${message}. Fix: npm run pulumi -- config set aws:profile <profile>, or the AWS_* environment`);
      const code = (error as { code?: unknown })?.code;
      if (typeof code === "string" && /^E[A-Z]+$/.test(code)) {
        throw new IamReadError(`could not reach IAM for ${permission} (${code}). Fix: check the network; if AWS_ENDPOINT_URL_IAM is set, check it or unset it`);
      }
      throw new IamReadError(`${permission} failed (${name || "error"}): ${message}`);
    }
  }

  /** Every page of a list call. */
  async pages<T extends { IsTruncated?: boolean; Marker?: string }>(
    permission: string,
    make: (marker?: string) => object,
    absentIsEmpty = false,
  ): Promise<T[]> {
    const all: T[] = [];
    let marker: string | undefined;
    do {
      // With absentIsEmpty, none when the entity is gone (another run deleted it meanwhile).
      const page = await this.call<T>(permission, make(marker), absentIsEmpty);
      if (!page) return [];
      all.push(page);
      marker = page.IsTruncated ? page.Marker : undefined;
    } while (marker);
    return all;
  }

  /** A managed policy's document: GetPolicy has none, so its default version's. */
  async managedDocument(arn: string, name: string): Promise<FoundPolicy | undefined> {
    // Absent: deleted since the list (an overlapping run's last step), so no longer attached.
    const policy = await this.call<{ Policy?: { DefaultVersionId?: string } }>("iam:GetPolicy", new GetPolicyCommand({ PolicyArn: arn }), true);
    if (!policy) return undefined;
    const version = policy?.Policy?.DefaultVersionId;
    if (!version) return { name, arn };
    const got = await this.call<{ PolicyVersion?: { Document?: string } }>(
      "iam:GetPolicyVersion",
      new GetPolicyVersionCommand({ PolicyArn: arn, VersionId: version }),
      true,
    );
    if (!got) return undefined;
    return { name, arn, document: parsePolicyDocument(got.PolicyVersion?.Document) };
  }
}

const tagsOf = (tags: Tag[] | undefined) => Object.fromEntries((tags ?? []).map((t) => [t.Key ?? "", t.Value ?? ""]));

async function readUser(iam: Iam, userName: string, redactor: Redactor): Promise<FoundUser | undefined> {
  const got = await iam.call<{ User?: { Arn?: string; Path?: string; PermissionsBoundary?: { PermissionsBoundaryArn?: string }; Tags?: Tag[] } }>(
    "iam:GetUser",
    new GetUserCommand({ UserName: userName }),
    true,
  );
  if (!got?.User) return undefined;
  const inlineNames = (
    await iam.pages<{ PolicyNames?: string[]; IsTruncated?: boolean; Marker?: string }>(
      "iam:ListUserPolicies",
      (Marker) => new ListUserPoliciesCommand({ UserName: userName, Marker }),
    )
  ).flatMap((p) => p.PolicyNames ?? []);
  const inline: FoundPolicy[] = [];
  for (const name of inlineNames) {
    // Absent: deleted since the list (an overlapping run's last step); it is no longer on the user.
    const doc = await iam.call<{ PolicyDocument?: string }>("iam:GetUserPolicy", new GetUserPolicyCommand({ UserName: userName, PolicyName: name }), true);
    if (doc) inline.push({ name, document: parsePolicyDocument(doc.PolicyDocument) });
  }
  const attached = (
    await iam.pages<{ AttachedPolicies?: { PolicyName?: string; PolicyArn?: string }[]; IsTruncated?: boolean; Marker?: string }>(
      "iam:ListAttachedUserPolicies",
      (Marker) => new ListAttachedUserPoliciesCommand({ UserName: userName, Marker }),
    )
  ).flatMap((p) => p.AttachedPolicies ?? []);
  const managed: FoundPolicy[] = [];
  for (const p of attached) {
    const found = await iam.managedDocument(p.PolicyArn ?? "", p.PolicyName ?? "");
    if (found) managed.push(found);
  }
  const groups = (
    await iam.pages<{ Groups?: { GroupName?: string }[]; IsTruncated?: boolean; Marker?: string }>(
      "iam:ListGroupsForUser",
      (Marker) => new ListGroupsForUserCommand({ UserName: userName, Marker }),
    )
  ).flatMap((p) => (p.Groups ?? []).map((g) => g.GroupName ?? ""));
  const keys = (
    await iam.pages<{ AccessKeyMetadata?: { AccessKeyId?: string; Status?: string; CreateDate?: Date }[]; IsTruncated?: boolean; Marker?: string }>(
      "iam:ListAccessKeys",
      (Marker) => new ListAccessKeysCommand({ UserName: userName, Marker }),
    )
  )
    .flatMap((p) => p.AccessKeyMetadata ?? [])
    .map((k) => {
      redactor.addKeyId(k.AccessKeyId);
      return {
        id: k.AccessKeyId ?? "",
        status: k.Status === "Inactive" ? ("Inactive" as const) : ("Active" as const),
        createDate: k.CreateDate?.toISOString() ?? "",
      };
    });
  const boundary = got.User.PermissionsBoundary?.PermissionsBoundaryArn;
  return {
    arn: got.User.Arn ?? "",
    path: got.User.Path ?? "/",
    ...(boundary ? { permissionsBoundary: boundary } : {}),
    tags: tagsOf(got.User.Tags),
    inline,
    managed,
    groups,
    keys,
  };
}

async function readRole(iam: Iam, roleName: string): Promise<FoundRole | undefined> {
  const got = await iam.call<{
    Role?: {
      Arn?: string;
      Path?: string;
      Description?: string;
      MaxSessionDuration?: number;
      AssumeRolePolicyDocument?: string;
      PermissionsBoundary?: { PermissionsBoundaryArn?: string };
      Tags?: Tag[];
    };
  }>("iam:GetRole", new GetRoleCommand({ RoleName: roleName }), true);
  const role = got?.Role;
  if (!role) return undefined;
  const inlineNames = (
    await iam.pages<{ PolicyNames?: string[]; IsTruncated?: boolean; Marker?: string }>(
      "iam:ListRolePolicies",
      (Marker) => new ListRolePoliciesCommand({ RoleName: roleName, Marker }),
    )
  ).flatMap((p) => p.PolicyNames ?? []);
  const inline: FoundPolicy[] = [];
  for (const name of inlineNames) {
    const doc = await iam.call<{ PolicyDocument?: string }>("iam:GetRolePolicy", new GetRolePolicyCommand({ RoleName: roleName, PolicyName: name }), true);
    if (doc) inline.push({ name, document: parsePolicyDocument(doc.PolicyDocument) });
  }
  const attached = (
    await iam.pages<{ AttachedPolicies?: { PolicyName?: string; PolicyArn?: string }[]; IsTruncated?: boolean; Marker?: string }>(
      "iam:ListAttachedRolePolicies",
      (Marker) => new ListAttachedRolePoliciesCommand({ RoleName: roleName, Marker }),
    )
  ).flatMap((p) => p.AttachedPolicies ?? []);
  const managed: FoundPolicy[] = [];
  for (const p of attached) {
    const found = await iam.managedDocument(p.PolicyArn ?? "", p.PolicyName ?? "");
    if (found) managed.push(found);
  }
  const boundary = role.PermissionsBoundary?.PermissionsBoundaryArn;
  return {
    arn: role.Arn ?? "",
    path: role.Path ?? "/",
    ...(role.Description !== undefined && role.Description !== "" ? { description: role.Description } : {}),
    maxSessionDuration: role.MaxSessionDuration ?? 3600,
    ...(boundary ? { permissionsBoundary: boundary } : {}),
    tags: tagsOf(role.Tags),
    trust: parsePolicyDocument(role.AssumeRolePolicyDocument),
    inline,
    managed,
  };
}

async function readIam(iam: Iam, userName: string, roleName: string, redactor: Redactor): Promise<FoundIam> {
  const user = await readUser(iam, userName, redactor);
  const role = await readRole(iam, roleName);
  let kitGroupPolicy;
  if (user?.groups.includes(kitGroupName(roleName))) {
    const got = await iam.call<{ PolicyDocument?: string }>(
      "iam:GetGroupPolicy",
      new GetGroupPolicyCommand({ GroupName: kitGroupName(roleName), PolicyName: kitGroupPolicyName(roleName) }),
      true,
    );
    kitGroupPolicy = parsePolicyDocument(got?.PolicyDocument);
  }
  return { user, role, ...(kitGroupPolicy ? { kitGroupPolicy } : {}) };
}

/**
 * Removes one leftover, judged by what IAM lists now: detached only if still attached (from the adopted user or
 * role, nowhere else), a customer-managed policy deleted only when nothing else attaches it and nothing uses it as
 * a permissions boundary (IAM counts the two apart), its non-default versions first, as IAM requires. Returns what
 * was done, and what was kept and why.
 */
async function removeLeftover(
  iam: Iam,
  leftover: Leftover,
  attached: boolean,
  names: { userName: string; roleName: string },
  locks: HeldLocks,
): Promise<{ done: string[]; kept: string[] }> {
  const { userName, roleName } = names;
  const done: string[] = [];
  const kept: string[] = [];
  const gone = async (permission: string, command: object) => {
    await locks.assertHeld(permission);
    return (await iam.call(permission, command, true)) !== undefined;
  };
  switch (leftover.kind) {
    case "role-inline-policy":
      if (attached && (await gone("iam:DeleteRolePolicy", new DeleteRolePolicyCommand({ RoleName: roleName, PolicyName: leftover.name }))))
        done.push(`deleted the role's inline policy ${leftover.name}`);
      return { done, kept };
    case "user-inline-policy":
      if (attached && (await gone("iam:DeleteUserPolicy", new DeleteUserPolicyCommand({ UserName: userName, PolicyName: leftover.name }))))
        done.push(`deleted the user's inline policy ${leftover.name}`);
      return { done, kept };
    case "role-managed-policy":
      if (attached && (await gone("iam:DetachRolePolicy", new DetachRolePolicyCommand({ RoleName: roleName, PolicyArn: leftover.arn }))))
        done.push(`detached ${leftover.arn} from the role`);
      break;
    case "user-managed-policy":
      if (attached && (await gone("iam:DetachUserPolicy", new DetachUserPolicyCommand({ UserName: userName, PolicyArn: leftover.arn }))))
        done.push(`detached ${leftover.arn} from the user`);
      break;
  }
  const arn = leftover.arn!;
  if (MANAGED_ARN.test(arn)) return { done, kept }; // AWS's own policies are AWS's
  const policy = await iam.call<{ Policy?: { AttachmentCount?: number; PermissionsBoundaryUsageCount?: number; DefaultVersionId?: string } }>(
    "iam:GetPolicy",
    new GetPolicyCommand({ PolicyArn: arn }),
    true,
  );
  if (!policy?.Policy) return { done, kept }; // deleted already (an earlier, interrupted run)
  const attachments = policy.Policy.AttachmentCount ?? 0;
  const boundaries = policy.Policy.PermissionsBoundaryUsageCount ?? 0;
  if (attachments > 0 || boundaries > 0) {
    const uses = [
      attachments > 0 ? `${attachments} other attachment(s) use it` : "",
      boundaries > 0 ? `${boundaries} user(s) or role(s) use it as their permissions boundary` : "",
    ].filter(Boolean);
    kept.push(`kept ${arn}: ${uses.join(", and ")}; not deleted`);
    return { done, kept };
  }
  const versions = (
    await iam.pages<{ Versions?: { VersionId?: string; IsDefaultVersion?: boolean }[]; IsTruncated?: boolean; Marker?: string }>(
      "iam:ListPolicyVersions",
      (Marker) => new ListPolicyVersionsCommand({ PolicyArn: arn, Marker }),
      true,
    )
  ).flatMap((p) => p.Versions ?? []);
  for (const v of versions)
    if (!v.IsDefaultVersion) await gone("iam:DeletePolicyVersion", new DeletePolicyVersionCommand({ PolicyArn: arn, VersionId: v.VersionId }));
  if (await gone("iam:DeletePolicy", new DeletePolicyCommand({ PolicyArn: arn }))) done.push(`deleted ${arn} (nothing else used it)`);
  return { done, kept };
}

function printReport(report: AdoptReport, print: (line: string) => void): void {
  print(`Phase: ${report.phase}`);
  if (report.comparison.length > 0) {
    print("Found in IAM, beside what the kit declares:");
    for (const row of report.comparison) print(`  ${row.what.padEnd(13)} found: ${row.found}\n  ${"".padEnd(13)} kit:   ${row.kit}`);
  }
  if (report.rootTrust) print(`Trust: ${report.rootTrust}.`);
  if (report.adoptedKey) print(`Adopted key: ${report.adoptedKey} (npm run rotate-key retires it once the jobs use the new key)`);
  if (report.leftovers.length > 0) {
    print(report.step === "leftovers" ? "Leftovers this step removes:" : "Manual leftovers (removed by adoption's last step, after the kit's grants exist):");
    for (const l of report.leftovers) print(`  - ${l}`);
  }
  print(`Decision: ${STEP_TEXT[report.step]}${report.resumed ? " [finishing an interrupted run]" : ""}`);
  print(`Reason: ${report.reason}`);
}

interface Evidence {
  decision: Decision;
  iam: Iam;
  names: { userName: string; roleName: string };
  adoption: AdoptionRecord | undefined;
}

/** The run's report as it starts, and `finish`, which closes it with an exit code (the reason scrubbed). */
function startReport(stack: PulumiStack, opts: AdoptOptions, redactor: Redactor) {
  const report: AdoptReport = {
    stack: stack.name,
    phase: "unknown",
    step: "none",
    took: false,
    dryRun: opts.dryRun,
    reason: "",
    resumed: false,
    comparison: [],
    leftovers: [],
    removed: [],
    kept: [],
    exitCode: 1,
  };
  const finish = (exitCode: 0 | 1 | 2, reason?: string): AdoptReport => {
    if (reason !== undefined) report.reason = reason;
    report.reason = redactor.scrub(report.reason);
    report.exitCode = exitCode;
    return report;
  };
  return { report, finish };
}

/**
 * The record a step would write, through the program's own validation (src/config.ts validateConfig, with the
 * stack's other keys as they are) before anything is written: a record the program would refuse (a key id IAM
 * printed in a shape the program does not accept, a tag too long) turns the step into a refusal that names it.
 */
function checkRecord(decision: Decision, view: StackConfigView): Decision {
  if (!decision.record) return decision;
  try {
    validateConfig({ values: { ...view.values, adoption: JSON.stringify(decision.record) }, secretKeys: view.secretKeys });
    return decision;
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    const record = decision.record;
    return {
      ...decision,
      step: "none",
      refused: true,
      record: undefined,
      reason:
        `what adopt would record fails the program's own checks, so nothing is recorded: ${error.problems.join("; ")}` +
        (record.accessKeyId && !ACCESS_KEY_ID.test(record.accessKeyId)
          ? `. The user's key ${maskKeyId(record.accessKeyId)} is not an access key id the program accepts (AKIA and 16 of A-Z, 2-7)`
          : ""),
    };
  }
}

/** Reads the stack and IAM and decides; a report (exit 1) when the evidence cannot be read or there is nothing to adopt into. */
async function readEvidence(
  stack: PulumiStack,
  opts: { env: NodeJS.ProcessEnv; narrowTrust: boolean },
  redactor: Redactor,
  refuse: (reason: string) => AdoptReport,
): Promise<Evidence | AdoptReport> {
  const { env } = opts;
  let iam: Iam | undefined;
  try {
    const view = await stack.readConfig({ secrets: false });
    const outputs = await stack.readOutputs({ secrets: false });
    const { config } = validateConfig({ values: view.values, secretKeys: view.secretKeys });
    if (config.connectorAuth === "lwa") {
      return refuse(
        "the stack is connectorAuth lwa, which declares no IAM user or role: there is nothing to adopt into it. Fix: npm run pulumi -- config set connectorAuth iam (or rm it), then run again",
      );
    }
    iam = new Iam(view, env, redactor);
    const found = await readIam(iam, config.userName, config.roleName, redactor);
    const text = (v: unknown) => (typeof v === "string" ? v : undefined);
    const decision = checkRecord(
      decide({
        config: { userName: config.userName, roleName: config.roleName, path: config.path, adoption: config.adoption },
        deployed: { adoptionDeployed: text(outputs.adoptionDeployed?.value), userArn: text(outputs.userArn?.value) },
        found,
        narrowTrust: opts.narrowTrust,
      }),
      view,
    );
    return { decision, iam, names: { userName: config.userName, roleName: config.roleName }, adoption: config.adoption };
  } catch (error) {
    iam?.destroy();
    if (error instanceof IamReadError || error instanceof PulumiError || error instanceof ConfigError) return refuse(error.message);
    throw error;
  }
}

/**
 * One run per stack at a time (lib/lock.ts, the lock rotate-key and rotate-lwa take too): a second run waits, then
 * decides from what the first left. A run whose lock was broken while it was suspended stops before its next step.
 */
export async function adopt(stack: PulumiStack, opts: AdoptOptions): Promise<AdoptReport> {
  const env = opts.env ?? process.env;
  const refuse = (reason: string): AdoptReport => {
    opts.print(errorLine("adopt", reason));
    return startReport(stack, opts, new Redactor()).finish(1, reason);
  };
  return withLocks(
    [stackLock(stack.name, env)],
    { env, command: "adopt", onCompromised: (what) => opts.print(`! the lock on ${what} was lost; this run stops before its next step`) },
    refuse,
    (locks) => adoptLocked(stack, opts, locks),
  );
}

async function adoptLocked(stack: PulumiStack, opts: AdoptOptions, locks: HeldLocks): Promise<AdoptReport> {
  const env = opts.env ?? process.env;
  const redactor = new Redactor();
  const print = (line: string) => opts.print(redactor.scrub(line));
  const { report, finish } = startReport(stack, opts, redactor);
  print(`Adoption of a manual setup, stack ${stack.name}${opts.dryRun ? " (dry run: nothing is changed)" : ""}`);

  const evidence = await readEvidence(stack, { env, narrowTrust: opts.narrowTrust ?? false }, redactor, (reason) => {
    const r = finish(1, reason);
    print(errorLine("adopt", r.reason));
    return r;
  });
  if (!("decision" in evidence)) return evidence;
  const { decision, iam, adoption } = evidence;

  const keyId = decision.record?.accessKeyId ?? adoption?.accessKeyId;
  Object.assign(report, {
    phase: decision.phase,
    step: decision.step,
    reason: decision.reason,
    resumed: decision.resumed,
    comparison: decision.comparison,
    leftovers: decision.leftovers.map(describeLeftover),
    ...(keyId ? { adoptedKey: maskKeyId(keyId) } : {}),
    ...(decision.rootTrust ? { rootTrust: decision.rootTrust } : {}),
  });
  printReport(report, print);
  try {
    if (decision.refused) return finish(1);
    if (opts.dryRun) {
      if (decision.record) print(`Dry run: would set the stack's config adoption (key ids shown masked) to ${JSON.stringify(decision.record)}`);
      if (decision.step !== "none") print("Dry run: nothing was changed.");
      return finish(0);
    }
    if (decision.step === "none") return finish(0);
    await takeStep(stack, evidence, report, print, locks);
    return finish(0);
  } catch (error) {
    if (error instanceof IamReadError || error instanceof PulumiError) {
      const r = finish(
        1,
        `${report.reason}; the step failed: ${error.message}. The config keeps the step: run npm run adopt again to finish it once the cause is fixed (docs/adoption.md, If a step fails)`,
      );
      print(errorLine("adopt", `the step failed: ${redactor.scrub(error.message)}`));
      return r;
    }
    throw error;
  } finally {
    iam.destroy();
  }
}

/** The decided step, not a dry run: record and deploy, or remove the leftovers and record the end. */
async function takeStep(stack: PulumiStack, evidence: Evidence, report: AdoptReport, print: (line: string) => void, locks: HeldLocks): Promise<void> {
  const { decision, iam, names, adoption } = evidence;
  // The config first: a run killed after it is finished by the next one, which sees the deployment missing.
  if (decision.record && decision.step !== "leftovers") {
    await locks.assertHeld("recording the adoption");
    await stack.setConfig("adoption", JSON.stringify(decision.record));
  }
  if (decision.step === "import" || decision.step === "kit") {
    await locks.assertHeld("pulumi up");
    print("Running pulumi up...");
    await stack.up((line) => print(`  | ${line}`));
    report.took = true;
    print(`Done: ${STEP_TEXT[decision.step]}.`);
    if (decision.step === "import") {
      print("The user now has the kit's new key beside the adopted one: hand the new block to every job (npm run credentials -- --into <job config>).");
      print("Next: npm run adopt again (deployment 2: the kit's own properties).");
    } else {
      print("Next: npm run adopt again (removes the manual leftovers now that the kit's grants exist).");
    }
    return;
  }

  // The leftovers step: the removals first, judged from IAM's lists, and only then the record of the end, so a
  // run killed in between leaves phase kit, and the next run removes whatever is left.
  const recorded = adoption!.leftovers;
  const attachedNow = new Set(decision.leftovers);
  for (const leftover of recorded) {
    const { done, kept } = await removeLeftover(iam, leftover, attachedNow.has(leftover), names, locks);
    report.removed.push(...done);
    report.kept.push(...kept);
  }
  for (const line of [...report.removed, ...report.kept]) print(`  ${line}`);
  await locks.assertHeld("recording the adoption as done");
  await stack.setConfig("adoption", JSON.stringify(decision.record));
  // Deployed at once, so every run sharing the backend sees the adoption done (src/state.ts).
  await locks.assertHeld("pulumi up");
  await stack.up((line) => print(`  | ${line}`));
  report.took = true;
  print("Done: the adoption is complete; the stack manages the user and role like any other.");
}
