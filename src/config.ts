/**
 * Stack configuration: every key, its rules, and the one place it is validated.
 * Validation runs before the first resource is declared; a bad value stops the program with a message
 * that names the key, shows what was given (never for a secret), says what is allowed and how to fix it.
 */
import { z } from "zod";
import { SP_API_REGION_NAMES, SpApiRegion } from "../policies/regions";

export const PROJECT = "sp-api-iam";

/** IAM's own rule for user, role and group names (CreateUser/CreateRole: [\w+=,.@-]+, 1 to 64). */
const IAM_NAME = /^[\w+=,.@-]{1,64}$/;
/** IAM path: "/" or "/" + printable ASCII + "/", at most 512 characters. */
const IAM_PATH = /^(\/|\/[\x21-\x7E]{1,510}\/)$/;
const POLICY_ARN = /^arn:aws(-[a-z]+)*:iam::(\d{12}|aws):policy\/[\w+=,.@/-]{1,128}$/;
/**
 * SP-API lives only in the aws partition, and every document here says arn:aws:. Regions of the other
 * partitions: aws-cn (cn-*), aws-us-gov (us-gov-*), the isolated ones (us-iso-*, us-isob-*, eu-isoe-*,
 * us-isof-*) and the European sovereign cloud (eusc-*).
 */
const OTHER_PARTITION_REGION = /^(cn-|us-gov-|[a-z]{2}-iso[a-z]?-|eusc-)/;
/** IAM's tag rule (the Tag type of the IAM API): letters, digits, spaces (any script) and _ . : / = + - @. */
const IAM_TAG_TEXT = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$/u;
const IAM_MAX_TAGS = 50;
export const LWA_CLIENT_ID = /^amzn1\.application-oa2-client\.[0-9a-f]{32}$/;
export const LWA_CLIENT_SECRET = /^amzn1\.oa2-cs\.v1\.[0-9a-f]+$/;
export const LWA_LEGACY_CLIENT_SECRET = /^[0-9a-f]{32,}$/;
export const LWA_REFRESH_TOKEN_PREFIX = "Atzr|";
const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/;
/** gpg --export | base64 (one line, no armour) or a Keybase user, as aws.iam.AccessKey's pgpKey takes them. */
const PGP_KEY = /^(keybase:[A-Za-z0-9_]{1,16}|[A-Za-z0-9+/]{100,}={0,2})$/;

export const PREVIOUS_KEY_STATES = ["active", "inactive", "removed"] as const;
export type PreviousKeyState = (typeof PREVIOUS_KEY_STATES)[number];

/**
 * How the connector authenticates: "iam" signs SP-API calls with an IAM user's key and a role (connectors built
 * before Amazon dropped SigV4 on 2023-10-02); "lwa" sends only the LWA token, so no IAM resource is needed.
 */
export const CONNECTOR_AUTHS = ["iam", "lwa"] as const;
export type ConnectorAuth = (typeof CONNECTOR_AUTHS)[number];

interface KeySpec {
  /** What is allowed, in words. */
  allowed: string;
  /** An example command that sets a good value. */
  fix: string;
  /** Held as a Pulumi secret; its value is never shown. */
  secret?: boolean;
  /**
   * Has no default: unset means "not used". Pulumi.yaml declares it with `default: ""`, because the CLI
   * refuses to run a stack that lacks a declared key without a default; so "" also means unset.
   */
  optional?: boolean;
}

/** Every key this program reads. docs/reference.md's config table and Pulumi.yaml follow this list (a test checks both). */
export const CONFIG_KEYS: Record<string, KeySpec> = {
  connectorAuth: {
    allowed:
      "iam (an IAM user, role and access key, for connectors that still ask for role_arn and an AWS key) or " +
      "lwa (no IAM at all, for connectors that take only client_id, client_secret and refresh_token)",
    fix: "pulumi config set connectorAuth lwa",
  },
  iamKeysUnusedAt: {
    allowed:
      "an ISO 8601 time, recorded by npm run rotate-key -- --check-unused when IAM shows every active key of the stack's user " +
      "unused for keyQuietHours: it lets a deployed iam stack switch to connectorAuth lwa",
    fix: "npm run rotate-key -- --check-unused",
    optional: true,
  },
  spApiRegion: { allowed: `one of ${SP_API_REGION_NAMES.join(", ")}`, fix: "pulumi config set spApiRegion na" },
  spApiRegions: {
    allowed: `a list of ${SP_API_REGION_NAMES.join(", ")}`,
    fix: "pulumi config set --path 'spApiRegions[0]' eu",
  },
  roleName: { allowed: "1 to 64 of A-Z a-z 0-9 _ + = , . @ -", fix: "pulumi config set roleName SellingPartnerAPI" },
  userName: { allowed: "1 to 64 of A-Z a-z 0-9 _ + = , . @ -", fix: "pulumi config set userName sp-api-connector" },
  path: { allowed: 'an IAM path: "/" or "/name/.../" (printable ASCII, at most 512)', fix: "pulumi config set path /sp-api/" },
  permissionsBoundary: {
    allowed: "an IAM policy ARN of the aws partition, arn:aws:iam::<account-id or aws>:policy/<name>",
    fix: "pulumi config set permissionsBoundary arn:aws:iam::123456789012:policy/Boundary",
    optional: true,
  },
  tags: {
    allowed:
      "at most 50 tags; keys of 1-128 characters, not starting with aws:, no two differing only in case; values of 0-256 characters; " +
      "keys and values of letters, digits, spaces and _ . : / = + - @ (IAM's rule)",
    fix: "pulumi config set --path 'tags.team' data-eng",
  },
  lwaClientId: {
    allowed: "amzn1.application-oa2-client. followed by 32 lowercase hex digits (Seller Central > Develop Apps > LWA credentials)",
    fix: "pulumi config set lwaClientId amzn1.application-oa2-client.<32 hex>",
    optional: true,
  },
  lwaClientSecret: {
    allowed: "the LWA client secret, amzn1.oa2-cs.v1. followed by hex (older bare-hex secrets are accepted with a warning), set as a secret",
    fix: "pulumi config set --secret lwaClientSecret",
    secret: true,
    optional: true,
  },
  lwaRefreshToken: {
    allowed: 'a refresh token starting "Atzr|", set as a secret',
    fix: "pulumi config set --secret lwaRefreshToken",
    secret: true,
    optional: true,
  },
  lwaClientSecretIssuedOn: {
    allowed: "a real calendar date YYYY-MM-DD, not in the future: the day the secret was created or last rotated",
    fix: "pulumi config set lwaClientSecretIssuedOn 2026-11-01",
    optional: true,
  },
  lwaExpiryWarningDays: { allowed: "a whole number of days from 0 to 180", fix: "pulumi config set lwaExpiryWarningDays 30" },
  accessKeyGeneration: { allowed: "a whole number from 1 up; bump it by one to rotate the key", fix: "pulumi config set accessKeyGeneration 2" },
  previousAccessKey: {
    allowed: PREVIOUS_KEY_STATES.join(", "),
    fix: "pulumi config set previousAccessKey inactive",
  },
  maxAccessKeyAgeDays: { allowed: "a whole number of days from 1 to 3650", fix: "pulumi config set maxAccessKeyAgeDays 90" },
  pgpKey: {
    allowed: "a base64 PGP public key (gpg --export <id> | base64 -w0) or keybase:<user>",
    fix: 'pulumi config set pgpKey "$(gpg --export you@example.com | base64 -w0)"',
    optional: true,
  },
  lwaRotation: {
    allowed: "true or false: true creates the SQS queue Amazon delivers rotated LWA secrets to (npm run rotate-lwa)",
    fix: "pulumi config set lwaRotation true",
  },
  lwaClientSecretExpiresAt: {
    allowed: "an ISO 8601 time (2027-05-26T10:00:00Z): Amazon's expiry of the current LWA secret, as its notifications give it; npm run rotate-lwa sets it",
    fix: "pulumi config rm lwaClientSecretExpiresAt (npm run rotate-lwa sets it again from Amazon's next notification)",
    optional: true,
  },
  lwaRotationRequestedAt: {
    allowed:
      "an ISO 8601 time: when npm run rotate-lwa last asked Amazon for a rotation, written before the request; while it is newer than lwaClientSecretIssuedAt no run asks again",
    fix: "pulumi config rm lwaRotationRequestedAt only if you know Amazon did not rotate (npm run rotate-lwa -- --request-again is the documented way)",
    optional: true,
  },
  lwaClientSecretIssuedAt: {
    allowed: "an ISO 8601 time: when Amazon sent the stored LWA secret (its new-secret message's publish time); npm run rotate-lwa sets it",
    fix: "pulumi config rm lwaClientSecretIssuedAt (npm run rotate-lwa sets it again at the next rotation)",
    optional: true,
  },
  lwaRotationSetAside: {
    allowed: "an ISO 8601 time: the publish time of the newest new-secret message LWA refused, which npm run rotate-lwa set aside; npm run status reports it",
    fix: "pulumi config rm lwaRotationSetAside (once you have looked into it: docs/running-unattended.md)",
    optional: true,
  },
  lwaRotationSetAsideSecret: {
    allowed:
      "the newest new LWA client secret LWA refused (amzn1.oa2-cs.v1. followed by hex), kept as a secret until an operator clears it; npm run rotate-lwa sets it",
    fix: "pulumi config rm lwaRotationSetAsideSecret (only once you know the secret is not needed)",
    secret: true,
    optional: true,
  },
  stateRevision: {
    allowed:
      "a whole number from 0 up: the revision of the operational state (the keys the commands write) this working copy holds; " +
      "every command's write sets it one past the last deployment's, and a working copy behind the last deployment uses the deployed values",
    fix: "pulumi config rm stateRevision (the last deployment's operational state is then used)",
  },
  keyRotationLeadDays: {
    allowed:
      "a whole number of days from 0 to 3650, less than maxAccessKeyAgeDays: npm run rotate-key -- --if-due starts a rotation this many days before the key is due",
    fix: "pulumi config set keyRotationLeadDays 14",
  },
  keyQuietHours: {
    allowed:
      "a whole number of hours from 24 to 8760 (longer than IAM's last-used reporting delay): how long the old key must go unused before it is deactivated",
    fix: "pulumi config set keyQuietHours 48",
  },
  keyInactiveDays: {
    allowed: "a whole number of days from 1 to 365: how long the old key stays inactive before npm run rotate-key deletes it",
    fix: "pulumi config set keyInactiveDays 7",
  },
  jobConfigs: {
    allowed:
      "a list of job config files or directories (relative to the project directory), or runner:<base URL> (the connector product's jobs, through its API), that npm run maintain delivers the new block into",
    fix: "pulumi config set --path 'jobConfigs[0]' jobs/acme/",
  },
  authorizations: {
    allowed:
      "further authorizations of the app beside the default one (spApiRegion, lwaRefreshToken): a map from a name " +
      "(1 to 32 of a-z 0-9 - _, starting with a letter or digit; not default) to { spApiRegion: na, eu or fe; " +
      'refreshToken: that authorization\'s refresh token, starting "Atzr|", set as a secret }',
    fix: "pulumi config set --path 'authorizations.eu.spApiRegion' eu && pulumi config set --secret --path 'authorizations.eu.refreshToken'",
    optional: true,
  },
  runnerApiKey: {
    allowed:
      "the connector product's API key (full admin rights in the product), for jobConfigs entries runner:<base URL>; set as a secret (else RUNNER_API_KEY is used)",
    fix: "pulumi config set --secret runnerApiKey",
    secret: true,
    optional: true,
  },
  adoption: {
    allowed: "what npm run adopt found of a manual setup and how far the adoption is (JSON, written by npm run adopt; unset for a stack the kit created)",
    fix: "npm run adopt -- --dry-run (shows what it would record); pulumi config rm adoption only before the first adoption deployment",
    optional: true,
  },
};

export type ConfigKey = keyof typeof CONFIG_KEYS;

/**
 * Adoption of a manual setup (npm run adopt): "import" deploys the user and role as found, "kit" deploys the kit's
 * own properties on them, "done" also has the manual leftovers removed. Each phase is set by npm run adopt alone.
 */
export const ADOPTION_PHASES = ["import", "kit", "done"] as const;
export type AdoptionPhase = (typeof ADOPTION_PHASES)[number];
export const LEFTOVER_KINDS = ["role-managed-policy", "role-inline-policy", "user-managed-policy", "user-inline-policy"] as const;
/** An IAM user's long-term access key id, as the program accepts one (the adopted key, `adoption.accessKeyId`). */
export const ACCESS_KEY_ID = /^AKIA[A-Z2-7]{16}$/;
const stringTags = z.record(z.string(), z.string());
const adoptionSchema = z
  .object({
    phase: z.enum(ADOPTION_PHASES),
    user: z.object({ path: z.string().regex(IAM_PATH), permissionsBoundary: z.string().regex(POLICY_ARN).optional(), tags: stringTags }).strict(),
    role: z
      .object({
        path: z.string().regex(IAM_PATH),
        description: z.string().max(1000).optional(),
        maxSessionDuration: z.number().int().min(3600).max(43200),
        permissionsBoundary: z.string().regex(POLICY_ARN).optional(),
        tags: stringTags,
        /** The trust policy as found, normalised (an empty Condition dropped), as JSON text. */
        assumeRolePolicy: z.string().refine((s) => {
          try {
            return typeof JSON.parse(s) === "object";
          } catch {
            return false;
          }
        }, "not a JSON policy document"),
      })
      .strict(),
    /** The customer's own key, not in state: npm run rotate-key retires it through IAM on evidence. */
    accessKeyId: z.string().regex(ACCESS_KEY_ID, "not an access key id").optional(),
    /** YYYY-MM-DD: set by npm run rotate-key before it deactivates the adopted key. */
    accessKeyInactiveSince: z.string().regex(ISO_DATE).optional(),
    /** What the manual routine left that the last adoption step removes (and nothing else). */
    leftovers: z.array(z.object({ kind: z.enum(LEFTOVER_KINDS), name: z.string().min(1), arn: z.string().regex(POLICY_ARN).optional() }).strict()),
  })
  .strict();
export type AdoptionRecord = z.infer<typeof adoptionSchema>;
export type Leftover = AdoptionRecord["leftovers"][number];

const spApiRegion = z.enum(SP_API_REGION_NAMES as [SpApiRegion, ...SpApiRegion[]]);
const refreshToken = z.string().refine((s) => s.startsWith(LWA_REFRESH_TOKEN_PREFIX) && s.length > 20, "not an LWA refresh token");
/** An authorization's name: it names an output block and a file, so plain characters only. */
export const AUTHORIZATION_NAME = /^[a-z0-9][a-z0-9_-]{0,31}$/;
const authorizationSchema = z
  .object({ spApiRegion: z.enum(SP_API_REGION_NAMES as [SpApiRegion, ...SpApiRegion[]]), refreshToken: refreshToken.optional() })
  .strict();
/** Each authorization checked on its own, so that every bad one is named (zod stops at a bad record key). */
const authorizationsSchema = z
  .record(z.string(), z.unknown())
  .superRefine((map, ctx) => {
    for (const [name, entry] of Object.entries(map)) {
      if (!AUTHORIZATION_NAME.test(name)) ctx.addIssue({ code: "custom", path: [name], message: "a name that is not 1 to 32 of a-z 0-9 - _" });
      else if (name === "default")
        ctx.addIssue({ code: "custom", path: [name], message: "the name default, which is the stack's own authorization (spApiRegion, lwaRefreshToken)" });
      const parsed = authorizationSchema.safeParse(entry);
      if (parsed.success) continue;
      for (const issue of parsed.error.issues) {
        const field = String(issue.path[0] ?? "");
        const message =
          issue.code === "unrecognized_keys"
            ? `an unknown field (${issue.keys.join(", ")}; allowed: spApiRegion, refreshToken)`
            : field === "spApiRegion"
              ? entry !== null && typeof entry === "object" && "spApiRegion" in entry
                ? "not an SP-API region"
                : "no spApiRegion"
              : field === "refreshToken"
                ? "not an LWA refresh token"
                : "not an object of spApiRegion and refreshToken";
        ctx.addIssue({ code: "custom", path: [name, ...issue.path.map((p) => p as string | number)], message });
      }
    }
  })
  .transform((map) => map as Record<string, z.infer<typeof authorizationSchema>>);
export type Authorizations = z.infer<typeof authorizationsSchema>;

function calendarDate(value: string): Date | undefined {
  const m = ISO_DATE.exec(value);
  if (!m) return undefined;
  const date = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])));
  return date.toISOString().slice(0, 10) === value ? date : undefined;
}

const characters = (s: string) => [...s].length;

function arnPartition(arn: string): string {
  return arn.split(":")[1] ?? "";
}

/**
 * IAM's rules for the tags of a user or role, which it would otherwise enforce only at `pulumi up`, after
 * the user exists. Values may be numbers or booleans (`pulumi config set --path 'tags.x' 42` stores a number):
 * a tag value is their text. Lengths count characters, as IAM does.
 */
function tagProblems(tags: Record<string, unknown>): string[] {
  const problems: string[] = [];
  const keys = Object.keys(tags);
  if (keys.length > IAM_MAX_TAGS) problems.push(`${keys.length} tags; IAM takes at most ${IAM_MAX_TAGS}`);
  const seen = new Map<string, string>();
  for (const key of keys) {
    const name = JSON.stringify(key);
    if (characters(key) < 1 || characters(key) > 128) problems.push(`tag key ${name} is not 1 to 128 characters`);
    if (!IAM_TAG_TEXT.test(key)) problems.push(`tag key ${name} has a character IAM refuses`);
    if (key.toLowerCase().startsWith("aws:")) problems.push(`tag key ${name} is reserved by AWS (aws:)`);
    const twin = seen.get(key.toLowerCase());
    if (twin !== undefined) problems.push(`tag keys ${JSON.stringify(twin)} and ${name} differ only in case, which IAM counts as the same key`);
    seen.set(key.toLowerCase(), key);
    const value = tags[key];
    if (typeof value !== "string" && typeof value !== "number" && typeof value !== "boolean") {
      problems.push(`tag ${name} has a value that is not text (${value === null ? "null" : Array.isArray(value) ? "a list" : typeof value})`);
      continue;
    }
    const text = String(value);
    if (characters(text) > 256) problems.push(`tag ${name} has a value longer than 256 characters`);
    if (!IAM_TAG_TEXT.test(text)) problems.push(`tag ${name} has a value with a character IAM refuses`);
  }
  return problems;
}

function schema(today: Date) {
  const todayIso = today.toISOString().slice(0, 10);
  // Seller Central shows the issue date in the seller's own time zone, up to 14 hours ahead of UTC.
  const latestIssueDay = new Date(today.getTime() + 14 * 60 * 60 * 1000).toISOString().slice(0, 10);
  return z.object({
    connectorAuth: z.enum(CONNECTOR_AUTHS, "neither iam nor lwa").default("iam"),
    iamKeysUnusedAt: z
      .string()
      .refine((s) => ISO_TIME.test(s) && !Number.isNaN(Date.parse(s)), "not an ISO 8601 time")
      .optional(),
    spApiRegion: spApiRegion.default("na"),
    spApiRegions: z.array(spApiRegion).default([]),
    roleName: z.string().regex(IAM_NAME, "not a name IAM accepts").default("SellingPartnerAPI"),
    userName: z.string().regex(IAM_NAME, "not a name IAM accepts").default("sp-api-connector"),
    path: z.string().max(512).regex(IAM_PATH, "not an IAM path").default("/"),
    permissionsBoundary: z
      .string()
      .regex(POLICY_ARN, "not an IAM policy ARN")
      .superRefine((arn, ctx) => {
        const partition = arnPartition(arn);
        if (partition !== "aws") ctx.addIssue({ code: "custom", message: `in the ${partition} partition, where SP-API does not exist (only in aws)` });
      })
      .optional(),
    tags: z
      .record(z.string(), z.unknown())
      .superRefine((tags, ctx) => {
        const problems = tagProblems(tags);
        if (problems.length > 0) ctx.addIssue({ code: "custom", message: problems.join("; ") });
      })
      .transform((tags) => Object.fromEntries(Object.entries(tags).map(([k, v]) => [k, String(v)])) as Record<string, string>)
      .default({}),
    lwaClientId: z.string().regex(LWA_CLIENT_ID, "not an LWA client id").optional(),
    lwaClientSecret: z
      .string()
      .refine((s) => LWA_CLIENT_SECRET.test(s) || LWA_LEGACY_CLIENT_SECRET.test(s), "not an LWA client secret")
      .optional(),
    lwaRefreshToken: refreshToken.optional(),
    lwaClientSecretIssuedOn: z
      .string()
      .refine((s) => calendarDate(s) !== undefined, "not a real calendar date")
      .refine((s) => !(calendarDate(s) && s > latestIssueDay), `in the future (today is ${todayIso} UTC)`)
      .optional(),
    lwaExpiryWarningDays: z.number().int().min(0).max(180).default(30),
    accessKeyGeneration: z.number().int().min(1).max(1_000_000).default(1),
    previousAccessKey: z.enum(PREVIOUS_KEY_STATES).default("active"),
    maxAccessKeyAgeDays: z.number().int().min(1).max(3650).default(90),
    pgpKey: z.string().regex(PGP_KEY, "not a base64 PGP public key or keybase:<user>").optional(),
    lwaRotation: z.boolean().default(false),
    lwaClientSecretExpiresAt: isoTime(),
    lwaRotationRequestedAt: isoTime(),
    lwaClientSecretIssuedAt: isoTime(),
    lwaRotationSetAside: isoTime(),
    lwaRotationSetAsideSecret: z
      .string()
      .refine((s) => LWA_CLIENT_SECRET.test(s) || LWA_LEGACY_CLIENT_SECRET.test(s), "not an LWA client secret")
      .optional(),
    stateRevision: z.number().int().min(0).max(999_999_999).default(0),
    keyRotationLeadDays: z.number().int().min(0).max(3650).default(14),
    keyQuietHours: z.number().int().min(24).max(8760).default(48),
    keyInactiveDays: z.number().int().min(1).max(365).default(7),
    jobConfigs: z.array(z.string().min(1, "an empty path")).default([]),
    authorizations: authorizationsSchema.default({}),
    runnerApiKey: z.string().min(8, "too short for an API key").optional(),
    adoption: adoptionSchema.optional(),
  });
}

function isoTime() {
  return z
    .string()
    .refine((s) => ISO_TIME.test(s) && !Number.isNaN(Date.parse(s)), "not an ISO 8601 time")
    .optional();
}

export type StackConfig = z.infer<ReturnType<typeof schema>>;

/** Keys whose config values are JSON (lists, maps, numbers), as `pulumi config set --path` stores them. */
const JSON_VALUED = new Set<ConfigKey>([
  "spApiRegions",
  "tags",
  "lwaExpiryWarningDays",
  "accessKeyGeneration",
  "maxAccessKeyAgeDays",
  "lwaRotation",
  "stateRevision",
  "keyRotationLeadDays",
  "keyQuietHours",
  "keyInactiveDays",
  "jobConfigs",
  "authorizations",
  "adoption",
]);

/**
 * The job configs `jobConfigs` lists, or the problem with it (naming the key, the value given and the fix). A
 * plain string (`pulumi config set jobConfigs jobs/acme/`, without --path) is the likely mistake: the fix
 * turns it into a list of that one path.
 */
export function parseJobConfigs(raw: string | undefined): { ok: true; targets: string[] } | { ok: false; problem: string } {
  if (raw === undefined || raw === "") return { ok: true, targets: [] };
  const spec = CONFIG_KEYS.jobConfigs!;
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    value = raw;
  }
  if (typeof value === "string") {
    const quoted = /^[\w./@%+=:,-]+$/.test(value) ? value : `'${value.replace(/'/g, "'\\''")}'`;
    return {
      ok: false,
      problem:
        `${PROJECT}:jobConfigs: a single string, not a list; given ${shown("jobConfigs", raw)}. Allowed: ${spec.allowed}. ` +
        `Fix: pulumi config rm jobConfigs && pulumi config set --path 'jobConfigs[0]' ${quoted}`,
    };
  }
  const parsed = z.array(z.string().min(1, "an empty path")).safeParse(value);
  if (!parsed.success) {
    return {
      ok: false,
      problem: `${PROJECT}:jobConfigs: ${parsed.error.issues[0]!.message}; given ${shown("jobConfigs", raw)}. Allowed: ${spec.allowed}. Fix: ${spec.fix}`,
    };
  }
  return { ok: true, targets: parsed.data };
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`${PROJECT}: invalid configuration; nothing was created. Fix the key(s) below and run again.\n` + problems.map((p) => `  - ${p}`).join("\n"));
    this.name = "ConfigError";
  }
}

export interface RawConfig {
  /** The raw string value of each set key, as Pulumi hands it to the program. */
  values: Partial<Record<string, string>>;
  /** Keys that are set as Pulumi secrets. */
  secretKeys: ReadonlySet<string>;
  /** The AWS provider's `aws:region`, when set: it decides the partition the resources are created in. */
  providerRegion?: string;
}

export interface ValidatedConfig {
  config: StackConfig;
  /** Non-fatal remarks, to be logged as warnings (never holding a secret). */
  warnings: string[];
}

/**
 * authorizations as shown in a message: each refreshToken's value hidden (Pulumi hands the program the whole map
 * decrypted); the rest (names, regions) as given.
 */
function withoutRefreshTokens(raw: string): string {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return "a value that is not a map (hidden: it may hold a refresh token)";
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) return "a value that is not a map (hidden: it may hold a refresh token)";
  const hide = (entry: unknown): unknown =>
    typeof entry === "object" && entry !== null && !Array.isArray(entry)
      ? Object.fromEntries(Object.entries(entry).map(([k, v]) => [k, k === "refreshToken" ? "(hidden: a secret)" : v]))
      : "(hidden: not an object)";
  return JSON.stringify(Object.fromEntries(Object.entries(value).map(([name, entry]) => [name, hide(entry)])));
}

/** The authorizations whose refreshToken is in the map, by name: what must be stored as a secret. */
function authorizationsWithTokens(raw: string): string[] {
  try {
    const value = JSON.parse(raw) as unknown;
    if (typeof value !== "object" || value === null) return [];
    return Object.entries(value)
      .filter(([, entry]) => typeof entry === "object" && entry !== null && "refreshToken" in entry)
      .map(([name]) => name);
  } catch {
    return [];
  }
}

function shown(key: string, raw: string | undefined): string {
  if (raw === undefined) return "nothing";
  if (CONFIG_KEYS[key]?.secret) return "a value (hidden: it is a secret)";
  if (key === "authorizations") {
    const text = withoutRefreshTokens(raw);
    return text.startsWith("{") ? (text.length > 200 ? `${text.slice(0, 200)}...` : text) : text;
  }
  return JSON.stringify(raw.length > 200 ? `${raw.slice(0, 200)}...` : raw);
}

/** Validates raw config; throws ConfigError listing every bad key. Pure: the clock is an argument. */
export function validateConfig(raw: RawConfig, today: Date = new Date()): ValidatedConfig {
  const problems: string[] = [];
  const input: Record<string, unknown> = {};

  for (const key of Object.keys(raw.values)) {
    if (!(key in CONFIG_KEYS)) {
      problems.push(`${PROJECT}:${key}: not a key of this program; known keys: ${Object.keys(CONFIG_KEYS).join(", ")}. ` + `Fix: pulumi config rm ${key}`);
    }
  }

  for (const [key, spec] of Object.entries(CONFIG_KEYS)) {
    const value = raw.values[key];
    if (value === undefined || (spec.optional && value === "")) continue;
    if (spec.secret && !raw.secretKeys.has(key)) {
      problems.push(
        `${PROJECT}:${key}: stored in plain text; a secret must be encrypted. ` +
          `Fix: pulumi config rm ${key} && ${spec.fix} (it prompts for the value), then rotate it if the plain text reached git`,
      );
      continue;
    }
    if (key === "authorizations" && !raw.secretKeys.has(key)) {
      // Pulumi marks the whole map secret once one value in it is set with --secret: a map holding a refresh token
      // that is not secret holds it in plain text, in the stack's file.
      const plain = authorizationsWithTokens(value);
      if (plain.length > 0) {
        problems.push(
          `${PROJECT}:authorizations: ${plain.map((n) => `authorizations.${n}.refreshToken`).join(", ")} stored in plain text; a secret must be encrypted. ` +
            `Fix: ${plain.map((n) => `pulumi config rm --path 'authorizations.${n}.refreshToken' && pulumi config set --secret --path 'authorizations.${n}.refreshToken'`).join(" && ")} ` +
            "(it prompts for the value); if the plain text reached git, have the seller authorize the app again for a new token",
        );
        continue;
      }
    }
    if (key === "jobConfigs") {
      const jobConfigs = parseJobConfigs(value);
      if (!jobConfigs.ok) problems.push(jobConfigs.problem);
      else input[key] = jobConfigs.targets;
    } else if (JSON_VALUED.has(key as ConfigKey)) {
      try {
        input[key] = JSON.parse(value);
      } catch {
        input[key] = value; // not JSON: the schema rejects it with the key's rule
      }
    } else {
      input[key] = value;
    }
  }

  if (raw.providerRegion !== undefined && OTHER_PARTITION_REGION.test(raw.providerRegion)) {
    problems.push(
      `aws:region: ${JSON.stringify(raw.providerRegion)} is outside the aws partition, and SP-API exists only in aws; this kit cannot deploy there. ` +
        "Fix: pulumi config set aws:region us-east-1 (any region of the aws partition: IAM is global), with credentials of an account in the aws partition",
    );
  }

  const result = schema(today).safeParse(input);
  if (!result.success) {
    const seen = new Set<string>();
    for (const issue of result.error.issues) {
      const key = String(issue.path[0] ?? "");
      // One problem a key; in authorizations one an authorization, so each bad one is named.
      const where = key === "authorizations" ? issue.path.slice(0, 2).map(String).join(".") : key;
      if (seen.has(where)) continue;
      seen.add(where);
      const spec = CONFIG_KEYS[key];
      // Where in a map the fault is: authorizations.eu.spApiRegion.
      const at = key === "authorizations" && issue.path.length > 1 ? ` (at ${issue.path.map(String).join(".")})` : "";
      problems.push(`${PROJECT}:${key}: ${issue.message}${at}; given ${shown(key, raw.values[key])}. Allowed: ${spec?.allowed}. Fix: ${spec?.fix}`);
    }
  }
  if (result.success && result.data.keyRotationLeadDays >= result.data.maxAccessKeyAgeDays) {
    const spec = CONFIG_KEYS.keyRotationLeadDays!;
    problems.push(
      `${PROJECT}:keyRotationLeadDays: ${result.data.keyRotationLeadDays} is not less than maxAccessKeyAgeDays (${result.data.maxAccessKeyAgeDays}); ` +
        `given ${shown("keyRotationLeadDays", raw.values.keyRotationLeadDays)}. Allowed: ${spec.allowed}. Fix: ${spec.fix}`,
    );
  }
  if (problems.length > 0) throw new ConfigError(problems);

  const config = result.data!;
  const warnings: string[] = [];
  if (config.lwaClientSecret && !LWA_CLIENT_SECRET.test(config.lwaClientSecret)) {
    warnings.push(
      `${PROJECT}:lwaClientSecret has the older bare-hex form; current LWA secrets start "amzn1.oa2-cs.v1.". ` +
        "It still works until it expires; the next rotation in Seller Central gives the new form.",
    );
  }
  for (const [name, authorization] of Object.entries(config.authorizations)) {
    if (authorization.refreshToken === undefined) {
      warnings.push(
        `${PROJECT}:authorizations.${name} has no refreshToken yet: its block holds a placeholder. ` +
          `Fix: pulumi config set --secret --path 'authorizations.${name}.refreshToken'`,
      );
    }
  }
  if (config.spApiRegions.includes(config.spApiRegion)) {
    warnings.push(`${PROJECT}:spApiRegions repeats spApiRegion "${config.spApiRegion}"; it is served once.`);
  }
  return { config, warnings };
}
