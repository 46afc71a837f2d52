/**
 * Adopting a manual setup: which step is next, from evidence (the stack's config and last outputs, and what IAM
 * holds for the stack's userName and roleName). Pure: no I/O.
 *
 * The steps, each one run of `npm run adopt`:
 *   import     record what IAM holds in config (`adoption`, phase import), pulumi up: deployment 1 imports the user
 *              and role with their properties as found and adds only the kit's group, its policy, the membership
 *              and a new key in slot a; nothing that exists changes.
 *   kit        phase kit, pulumi up: deployment 2 gives the user and role the kit's own properties (trust narrowed
 *              to the user's ARN, the kit's inline grant), paths kept. A trust that names the account root is
 *              narrowed only when the person asks for it (--narrow-trust): other principals may assume through it.
 *   leftovers  once IAM shows the kit's grants: detach what the manual routine left (recorded at the first step,
 *              nothing else), delete a customer-managed one nothing attaches and no one uses as a boundary, then
 *              phase done.
 * A step whose config is set but whose deployment is missing (a killed run) is finished by running pulumi up again.
 */
import { type AdoptionPhase, type AdoptionRecord, type Leftover } from "../../src/config";
import { maskKeyId } from "../../lib/output";

export type Step = "import" | "kit" | "leftovers" | "none";

export interface PolicyStatement {
  Effect?: unknown;
  Action?: unknown;
  NotAction?: unknown;
  Resource?: unknown;
  NotResource?: unknown;
  Principal?: unknown;
  NotPrincipal?: unknown;
  Condition?: unknown;
  [other: string]: unknown;
}

export interface PolicyDocument {
  Version?: string;
  Statement: PolicyStatement[];
}

/** One policy as IAM holds it on the user or role: inline by name, or managed by ARN (its default version's document). */
export interface FoundPolicy {
  name: string;
  /** Managed policies only. */
  arn?: string;
  /** Undefined when the document could not be read as JSON. */
  document?: PolicyDocument;
}

export interface FoundKey {
  id: string;
  status: "Active" | "Inactive";
  createDate: string;
}

export interface FoundUser {
  arn: string;
  path: string;
  permissionsBoundary?: string;
  tags: Record<string, string>;
  inline: FoundPolicy[];
  managed: FoundPolicy[];
  groups: string[];
  keys: FoundKey[];
}

export interface FoundRole {
  arn: string;
  path: string;
  description?: string;
  maxSessionDuration: number;
  permissionsBoundary?: string;
  tags: Record<string, string>;
  /** The trust policy, decoded. */
  trust?: PolicyDocument;
  inline: FoundPolicy[];
  managed: FoundPolicy[];
}

export interface FoundIam {
  user?: FoundUser;
  role?: FoundRole;
  /** The inline policy on the kit's group (`Assume-<roleName>`), when the group exists. */
  kitGroupPolicy?: PolicyDocument;
}

export interface AdoptConfig {
  userName: string;
  roleName: string;
  path: string;
  adoption?: AdoptionRecord;
}

export interface AdoptInput {
  config: AdoptConfig;
  /** The person asked for a trust naming the account root to be narrowed to the user (--narrow-trust). */
  narrowTrust?: boolean;
  /** The stack's last outputs: `adoptionDeployed` ("as-found" | "kit"), and whether a userArn was ever deployed. */
  deployed: { adoptionDeployed?: string; userArn?: string };
  found: FoundIam;
}

/** Found beside what the kit declares, for the report. */
export interface Comparison {
  what: string;
  found: string;
  kit: string;
}

export interface Decision {
  step: Step;
  reason: string;
  /** The evidence says this is not a connector setup (or contradicts the stack): act on nothing (exit 1). */
  refused: boolean;
  /** The config `adoption` to set before the step's deployment (undefined: already set). */
  record?: AdoptionRecord;
  /** The step's config was set by an interrupted run: it is finished with pulumi up. */
  resumed: boolean;
  /** The leftovers this step removes (the leftovers step), or that adoption's last step will remove. */
  leftovers: Leftover[];
  comparison: Comparison[];
  phase: AdoptionPhase | "not adopted";
  /** When the role's trust (as found, or as recorded) names the account root: what that trust allows. */
  rootTrust?: string;
}

/** The names of the kit's own resources, as src/component.ts makes them. */
export const KIT_GRANT_NAME = "SellingPartnerAPI";
export const kitGroupName = (roleName: string) => `${roleName}-assumers`;
export const kitGroupPolicyName = (roleName: string) => `Assume-${roleName}`;

const list = (v: unknown): unknown[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

/** IAM returns documents URL-encoded; this reads one (encoded or not). */
export function parsePolicyDocument(text: string | undefined): PolicyDocument | undefined {
  if (text === undefined) return undefined;
  for (const candidate of [text, safeDecode(text)]) {
    if (candidate === undefined) continue;
    try {
      const doc = JSON.parse(candidate) as PolicyDocument;
      if (doc && typeof doc === "object") return { ...doc, Statement: list(doc.Statement) as PolicyStatement[] };
    } catch {
      // try the decoded form
    }
  }
  return undefined;
}

function safeDecode(text: string): string | undefined {
  try {
    return decodeURIComponent(text);
  } catch {
    return undefined;
  }
}

/** The trust policy as found, normalised: the console's empty `"Condition": {}` dropped, nothing else changed. */
export function normaliseTrust(doc: PolicyDocument): string {
  const statements = doc.Statement.map((s) => {
    const { Condition, ...rest } = s;
    const empty = Condition === undefined || (typeof Condition === "object" && Condition !== null && Object.keys(Condition).length === 0);
    return empty ? rest : s;
  });
  return JSON.stringify({ ...doc, Statement: statements });
}

const accountOf = (arn: string) => arn.split(":")[4] ?? "";
const isAllow = (s: PolicyStatement) => s.Effect === "Allow";
const hasNegations = (s: PolicyStatement) => s.NotAction !== undefined || s.NotResource !== undefined || s.NotPrincipal !== undefined;

/** Allow statements only, none negated, each granting exactly `action` (any case) on resources `resourceOk` accepts. */
function grantsOnly(doc: PolicyDocument | undefined, action: string, resourceOk: (resource: unknown) => boolean): boolean {
  return (
    !!doc &&
    doc.Statement.length > 0 &&
    doc.Statement.every(
      (s) =>
        isAllow(s) &&
        !hasNegations(s) &&
        list(s.Action).length > 0 &&
        list(s.Action).every((a) => typeof a === "string" && a.toLowerCase() === action) &&
        list(s.Resource).length > 0 &&
        list(s.Resource).every(resourceOk),
    )
  );
}

/** A grant of execute-api:Invoke and nothing else (the connector page's SellingPartnerAPI policy). */
export function grantsOnlyInvoke(doc: PolicyDocument | undefined): boolean {
  return grantsOnly(doc, "execute-api:invoke", (r) => typeof r === "string" && r.startsWith("arn:aws:execute-api:"));
}

/** A grant of sts:AssumeRole on this role and nothing else (the connector page's inline policy on the user). */
export function grantsOnlyAssume(doc: PolicyDocument | undefined, roleArn: string): boolean {
  return grantsOnly(doc, "sts:assumerole", (r) => r === roleArn);
}

/** The AWS principals a trust policy names, or undefined when it holds anything but plain sts:AssumeRole allows. */
export function trustedPrincipals(doc: PolicyDocument | undefined): { principals: string[]; problems: string[] } {
  const principals: string[] = [];
  const problems: string[] = [];
  if (!doc) return { principals, problems: ["a trust policy that is not a JSON document"] };
  for (const s of doc.Statement) {
    if (!isAllow(s) || hasNegations(s)) problems.push(`a trust statement that is not a plain Allow (${JSON.stringify(s)})`);
    if (!list(s.Action).every((a) => typeof a === "string" && a.toLowerCase() === "sts:assumerole"))
      problems.push(`trust for ${JSON.stringify(s.Action)}, not only sts:AssumeRole`);
    const condition = s.Condition;
    if (condition !== undefined && !(typeof condition === "object" && condition !== null && Object.keys(condition).length === 0))
      problems.push(`a trust condition ${JSON.stringify(condition)}`);
    const principal = s.Principal as Record<string, unknown> | string | undefined;
    if (typeof principal !== "object" || principal === null || Object.keys(principal).some((k) => k !== "AWS")) {
      problems.push(`a trusted principal ${JSON.stringify(principal)} that is not an AWS account or user`);
      continue;
    }
    for (const p of list(principal.AWS)) principals.push(String(p));
  }
  return { principals, problems };
}

/** A principal that stands for the account itself: its root ARN or its bare id. */
const isAccountRoot = (principal: string, account: string) => principal === `arn:aws:iam::${account}:root` || principal === account;

/**
 * When a trust policy names the account root: a sentence saying what it allows (any principal of the account whose
 * own policies grant sts:AssumeRole on the role), and what narrowing it to the user takes away. Undefined otherwise.
 */
export function rootTrustText(trust: PolicyDocument | undefined, roleArn: string, userArn: string): string | undefined {
  const account = accountOf(roleArn);
  const root = trustedPrincipals(trust).principals.find((p) => isAccountRoot(p, account));
  if (!root) return undefined;
  return (
    `the role's trust names the account root (${root}): any user or role of account ${account} whose own policies grant ` +
    `sts:AssumeRole on ${roleArn} (or on *) can assume it, not only ${userArn}. Deployment 2 narrows the trust to ${userArn}, ` +
    "which cuts those others off; it does so only with npm run adopt -- --narrow-trust"
  );
}

const showTags = (tags: Record<string, string>) =>
  Object.keys(tags).length === 0
    ? "none"
    : Object.entries(tags)
        .map(([k, v]) => `${k}=${v}`)
        .join(", ");

/**
 * Whether the names look like the connector's manual setup; if so, what the routine left beside the kit's grants.
 * Every problem is named, with what was found.
 */
export function classify(config: AdoptConfig, user: FoundUser, role: FoundRole): { problems: string[]; leftovers: Leftover[] } {
  const problems: string[] = [];
  const leftovers: Leftover[] = [];
  const account = accountOf(role.arn);
  const { principals, problems: trustProblems } = trustedPrincipals(role.trust);
  problems.push(...trustProblems.map((p) => `role ${config.roleName} has ${p}`));
  for (const p of principals) {
    if (!isAccountRoot(p, account) && p !== user.arn) problems.push(`role ${config.roleName} trusts ${p}, besides the account and the user ${config.userName}`);
  }
  for (const policy of role.inline) {
    if (!grantsOnlyInvoke(policy.document))
      problems.push(`role ${config.roleName} has the inline policy ${policy.name}, which grants more than execute-api:Invoke`);
    else if (policy.name === KIT_GRANT_NAME)
      problems.push(`role ${config.roleName} has an inline policy named ${KIT_GRANT_NAME}, the name of the kit's own grant, which would overwrite it`);
    else leftovers.push({ kind: "role-inline-policy", name: policy.name });
  }
  for (const policy of role.managed) {
    if (!grantsOnlyInvoke(policy.document))
      problems.push(`role ${config.roleName} has the managed policy ${policy.arn}, which grants more than execute-api:Invoke`);
    else leftovers.push({ kind: "role-managed-policy", name: policy.name, arn: policy.arn });
  }
  for (const policy of user.inline) {
    if (!grantsOnlyAssume(policy.document, role.arn))
      problems.push(`user ${config.userName} has the inline policy ${policy.name}, which grants more than sts:AssumeRole on ${role.arn}`);
    else leftovers.push({ kind: "user-inline-policy", name: policy.name });
  }
  for (const policy of user.managed) {
    if (!grantsOnlyAssume(policy.document, role.arn))
      problems.push(`user ${config.userName} has the managed policy ${policy.arn}, which grants more than sts:AssumeRole on ${role.arn}`);
    else leftovers.push({ kind: "user-managed-policy", name: policy.name, arn: policy.arn });
  }
  const otherGroups = user.groups.filter((g) => g !== kitGroupName(config.roleName));
  if (otherGroups.length > 0) problems.push(`user ${config.userName} is a member of ${otherGroups.join(", ")}, whose permissions the kit does not know`);
  if (user.keys.length > 1) {
    problems.push(
      `user ${config.userName} has two access keys (${user.keys.map((k) => `${maskKeyId(k.id)} ${k.status}, created ${k.createDate.slice(0, 10)}`).join("; ")}) ` +
        "and neither is recorded: IAM allows two, and the kit needs room for its own. Delete the one no job uses (aws iam delete-access-key), then run again",
    );
  }
  return { problems, leftovers };
}

/** What adoption records: the user and role exactly as found, the customer's key, the leftovers. */
export function recordOf(user: FoundUser, role: FoundRole, leftovers: Leftover[]): AdoptionRecord {
  const key = user.keys[0];
  return {
    phase: "import",
    user: { path: user.path, ...(user.permissionsBoundary ? { permissionsBoundary: user.permissionsBoundary } : {}), tags: user.tags },
    role: {
      path: role.path,
      ...(role.description !== undefined ? { description: role.description } : {}),
      maxSessionDuration: role.maxSessionDuration,
      ...(role.permissionsBoundary ? { permissionsBoundary: role.permissionsBoundary } : {}),
      tags: role.tags,
      assumeRolePolicy: normaliseTrust(role.trust!),
    },
    ...(key ? { accessKeyId: key.id } : {}),
    leftovers,
  };
}

function compare(config: AdoptConfig, user: FoundUser | undefined, role: FoundRole | undefined, adoption: AdoptionRecord | undefined): Comparison[] {
  const rows: Comparison[] = [];
  const userArn = user?.arn ?? `arn:aws:iam::<account>:user${config.path}${config.userName}`;
  if (role) {
    const { principals } = trustedPrincipals(role.trust);
    rows.push({ what: "role trust", found: principals.join(", ") || "none", kit: userArn });
    rows.push({ what: "role path", found: role.path, kit: `${role.path} (kept: a path change would replace the role and change its ARN)` });
    rows.push({
      what: "role grants",
      found: [...role.inline.map((p) => `inline ${p.name}`), ...role.managed.map((p) => `managed ${p.arn}`)].join(", ") || "none",
      kit: `inline ${KIT_GRANT_NAME} (execute-api:Invoke on the served regions)`,
    });
    rows.push({ what: "role tags", found: showTags(role.tags), kit: "the stack's tags" });
    rows.push({ what: "role boundary", found: role.permissionsBoundary ?? "none", kit: "the stack's permissionsBoundary" });
  }
  if (user) {
    rows.push({ what: "user path", found: user.path, kit: `${user.path} (kept)` });
    rows.push({
      what: "user grants",
      found:
        [...user.inline.map((p) => `inline ${p.name}`), ...user.managed.map((p) => `managed ${p.arn}`), ...user.groups.map((g) => `group ${g}`)].join(", ") ||
        "none",
      kit: `group ${kitGroupName(config.roleName)} with ${kitGroupPolicyName(config.roleName)} (sts:AssumeRole on the role)`,
    });
    rows.push({
      what: "user keys",
      found: user.keys.map((k) => `${maskKeyId(k.id)} ${k.status}${k.id === adoption?.accessKeyId ? " (adopted)" : ""}`).join(", ") || "none",
      kit: "one key in slot a; the adopted key retired by npm run rotate-key on evidence",
    });
    rows.push({ what: "user tags", found: showTags(user.tags), kit: "the stack's tags" });
  }
  return rows;
}

/** Which of the recorded leftovers IAM still holds on the user and role. */
export function remainingLeftovers(recorded: readonly Leftover[], user: FoundUser, role: FoundRole): Leftover[] {
  return recorded.filter((l) => {
    switch (l.kind) {
      case "role-managed-policy":
        return role.managed.some((p) => p.arn === l.arn);
      case "role-inline-policy":
        return role.inline.some((p) => p.name === l.name);
      case "user-managed-policy":
        return user.managed.some((p) => p.arn === l.arn);
      case "user-inline-policy":
        return user.inline.some((p) => p.name === l.name);
    }
  });
}

/** Whether IAM holds the kit's grants: trust names only the user, the kit's inline grant, the group, its policy. */
export function kitGrantsMissing(config: AdoptConfig, user: FoundUser, role: FoundRole, kitGroupPolicy: PolicyDocument | undefined): string[] {
  const missing: string[] = [];
  const { principals, problems } = trustedPrincipals(role.trust);
  if (problems.length > 0 || principals.length !== 1 || principals[0] !== user.arn)
    missing.push(`the role's trust names ${principals.join(", ") || "nobody"}, not only ${user.arn}`);
  const grant = role.inline.find((p) => p.name === KIT_GRANT_NAME);
  if (!grant || !grantsOnlyInvoke(grant.document)) missing.push(`the role has no inline ${KIT_GRANT_NAME} grant of execute-api:Invoke`);
  if (!user.groups.includes(kitGroupName(config.roleName))) missing.push(`the user is not in the group ${kitGroupName(config.roleName)}`);
  if (!grantsOnlyAssume(kitGroupPolicy, role.arn)) missing.push(`the group has no ${kitGroupPolicyName(config.roleName)} grant of sts:AssumeRole on the role`);
  return missing;
}

export function decide(input: AdoptInput): Decision {
  const { config, deployed, found } = input;
  const adoption = config.adoption;
  const { user, role } = found;
  const comparison = compare(config, user, role, adoption);
  const recordedTrust = adoption ? parsePolicyDocument(adoption.role.assumeRolePolicy) : role?.trust;
  // Only before deployment 2: after it the trust is the kit's.
  const rootTrust = role && user && (!adoption || adoption.phase === "import") ? rootTrustText(recordedTrust, role.arn, user.arn) : undefined;
  const base = { comparison, resumed: false, refused: false, phase: adoption?.phase ?? ("not adopted" as const), ...(rootTrust ? { rootTrust } : {}) };
  const refuse = (reason: string, leftovers: Leftover[] = []): Decision => ({ ...base, step: "none", reason, refused: true, leftovers });

  if (!user || !role) {
    const absent = [!user ? `user ${config.userName}` : "", !role ? `role ${config.roleName}` : ""].filter(Boolean).join(" and ");
    if (!adoption && !user && !role)
      return refuse(
        `IAM has no ${absent}: there is nothing to adopt. For a fresh setup run npm run up; for an existing one set userName and roleName to its names`,
      );
    return refuse(
      `IAM has no ${absent}${adoption ? " though the stack adopted it (deleted outside the stack?)" : ""}: adoption needs both. Check the names (npm run pulumi -- config get userName, roleName) and the account`,
    );
  }

  if (!adoption) {
    if (deployed.userArn)
      return {
        ...base,
        step: "none",
        reason: "the stack was deployed without adoption: it already manages its user and role; nothing to adopt",
        leftovers: [],
      };
    const { problems, leftovers } = classify(config, user, role);
    if (problems.length > 0) return refuse(`this does not look like the connector's manual setup, so nothing is adopted: ${problems.join("; ")}`, leftovers);
    return {
      ...base,
      step: "import",
      record: recordOf(user, role, leftovers),
      reason:
        "a manual connector setup: deployment 1 imports the user and role exactly as found and adds the kit's group, its policy, the membership and a new key; nothing that exists changes",
      leftovers,
    };
  }

  const remaining = remainingLeftovers(adoption.leftovers, user, role);
  if (adoption.phase === "import") {
    if (deployed.adoptionDeployed === "as-found" || deployed.adoptionDeployed === "kit") {
      if (rootTrust && !input.narrowTrust)
        return refuse(`deployment 1 is done; deployment 2 waits for the person's word: ${rootTrust}. Nothing was changed`, remaining);
      return {
        ...base,
        step: "kit",
        record: { ...adoption, phase: "kit" },
        reason: "deployment 1 is done (the stack holds the user and role as found): deployment 2 applies the kit's own properties",
        leftovers: remaining,
      };
    }
    return {
      ...base,
      step: "import",
      resumed: true,
      reason: "the adoption is recorded but deployment 1 has not completed (an interrupted run?): running it again",
      leftovers: remaining,
    };
  }
  if (adoption.phase === "kit") {
    if (deployed.adoptionDeployed !== "kit") {
      return { ...base, step: "kit", resumed: true, reason: "deployment 2 has not completed (an interrupted run?): running it again", leftovers: remaining };
    }
    const missing = kitGrantsMissing(config, user, role, found.kitGroupPolicy);
    if (missing.length > 0) {
      return refuse(
        `the stack says deployment 2 is done, but IAM does not hold the kit's grants: ${missing.join("; ")}. ` +
          "The leftovers stay until it does. Fix: npm run pulumi -- refresh, then npm run pulumi -- up, and run again",
        remaining,
      );
    }
    return {
      ...base,
      step: "leftovers",
      record: { ...adoption, phase: "done" },
      reason:
        remaining.length > 0
          ? "the kit's grants are in IAM: the manual leftovers go (recorded at the first step, nothing else is touched)"
          : "the kit's grants are in IAM and no leftover remains: the adoption is recorded as done",
      leftovers: remaining,
    };
  }
  return {
    ...base,
    step: "none",
    reason:
      "adopted: the stack manages the user and role with the kit's properties" +
      (adoption.accessKeyId && user.keys.some((k) => k.id === adoption.accessKeyId)
        ? `; the customer's key ${maskKeyId(adoption.accessKeyId)} is retired by npm run rotate-key once the jobs use the new one`
        : ""),
    leftovers: remaining,
  };
}
