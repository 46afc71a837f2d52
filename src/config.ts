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

/** Every key this program reads. README's config table and Pulumi.yaml follow this list (a test checks both). */
export const CONFIG_KEYS: Record<string, KeySpec> = {
  spApiRegion: { allowed: `one of ${SP_API_REGION_NAMES.join(", ")}`, fix: "pulumi config set spApiRegion na" },
  spApiRegions: {
    allowed: `a list of ${SP_API_REGION_NAMES.join(", ")}`,
    fix: "pulumi config set --path 'spApiRegions[0]' eu",
  },
  roleName: { allowed: "1 to 64 of A-Z a-z 0-9 _ + = , . @ -", fix: "pulumi config set roleName SellingPartnerAPI" },
  userName: { allowed: "1 to 64 of A-Z a-z 0-9 _ + = , . @ -", fix: "pulumi config set userName sp-api-connector" },
  path: { allowed: 'an IAM path: "/" or "/name/.../" (printable ASCII, at most 512)', fix: "pulumi config set path /sp-api/" },
  permissionsBoundary: {
    allowed: "an IAM policy ARN, arn:aws:iam::<account-id or aws>:policy/<name>",
    fix: "pulumi config set permissionsBoundary arn:aws:iam::123456789012:policy/Boundary",
    optional: true,
  },
  tags: {
    allowed: "a map of tag keys (1-128 chars, not starting with aws:) to values (0-256 chars), at most 50",
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
    allowed: "a list of job config files or directories (relative to the project directory) that npm run maintain delivers the new block into",
    fix: "pulumi config set --path 'jobConfigs[0]' jobs/acme/",
  },
};

export type ConfigKey = keyof typeof CONFIG_KEYS;

const spApiRegion = z.enum(SP_API_REGION_NAMES as [SpApiRegion, ...SpApiRegion[]]);

function calendarDate(value: string): Date | undefined {
  const m = ISO_DATE.exec(value);
  if (!m) return undefined;
  const date = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])));
  return date.toISOString().slice(0, 10) === value ? date : undefined;
}

function schema(today: Date) {
  const todayIso = today.toISOString().slice(0, 10);
  // Seller Central shows the issue date in the seller's own time zone, up to 14 hours ahead of UTC.
  const latestIssueDay = new Date(today.getTime() + 14 * 60 * 60 * 1000).toISOString().slice(0, 10);
  return z.object({
    spApiRegion: spApiRegion.default("na"),
    spApiRegions: z.array(spApiRegion).default([]),
    roleName: z.string().regex(IAM_NAME, "not a name IAM accepts").default("SellingPartnerAPI"),
    userName: z.string().regex(IAM_NAME, "not a name IAM accepts").default("sp-api-connector"),
    path: z.string().max(512).regex(IAM_PATH, "not an IAM path").default("/"),
    permissionsBoundary: z.string().regex(POLICY_ARN, "not an IAM policy ARN").optional(),
    tags: z
      .record(z.string(), z.string().max(256, "a tag value is longer than 256"))
      .superRefine((tags, ctx) => {
        const keys = Object.keys(tags);
        if (keys.length > 50) ctx.addIssue({ code: "custom", message: "IAM takes at most 50 tags" });
        for (const key of keys) {
          if (key.length < 1 || key.length > 128) ctx.addIssue({ code: "custom", message: `tag key "${key}" is not 1 to 128 characters` });
          if (key.toLowerCase().startsWith("aws:")) ctx.addIssue({ code: "custom", message: `tag key "${key}" is reserved by AWS (aws:)` });
        }
      })
      .default({}),
    lwaClientId: z.string().regex(LWA_CLIENT_ID, "not an LWA client id").optional(),
    lwaClientSecret: z
      .string()
      .refine((s) => LWA_CLIENT_SECRET.test(s) || LWA_LEGACY_CLIENT_SECRET.test(s), "not an LWA client secret")
      .optional(),
    lwaRefreshToken: z
      .string()
      .refine((s) => s.startsWith(LWA_REFRESH_TOKEN_PREFIX) && s.length > 20, "not an LWA refresh token")
      .optional(),
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
    lwaClientSecretExpiresAt: z
      .string()
      .refine((s) => ISO_TIME.test(s) && !Number.isNaN(Date.parse(s)), "not an ISO 8601 time")
      .optional(),
    keyRotationLeadDays: z.number().int().min(0).max(3650).default(14),
    keyQuietHours: z.number().int().min(24).max(8760).default(48),
    keyInactiveDays: z.number().int().min(1).max(365).default(7),
    jobConfigs: z.array(z.string().min(1, "an empty path")).default([]),
  });
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
  "keyRotationLeadDays",
  "keyQuietHours",
  "keyInactiveDays",
  "jobConfigs",
]);

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
}

export interface ValidatedConfig {
  config: StackConfig;
  /** Non-fatal remarks, to be logged as warnings (never holding a secret). */
  warnings: string[];
}

function shown(key: string, raw: string | undefined): string {
  if (raw === undefined) return "nothing";
  if (CONFIG_KEYS[key]?.secret) return "a value (hidden: it is a secret)";
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
    if (JSON_VALUED.has(key as ConfigKey)) {
      try {
        input[key] = JSON.parse(value);
      } catch {
        input[key] = value; // not JSON: the schema rejects it with the key's rule
      }
    } else {
      input[key] = value;
    }
  }

  const result = schema(today).safeParse(input);
  if (!result.success) {
    const seen = new Set<string>();
    for (const issue of result.error.issues) {
      const key = String(issue.path[0] ?? "");
      if (seen.has(key)) continue;
      seen.add(key);
      const spec = CONFIG_KEYS[key];
      problems.push(`${PROJECT}:${key}: ${issue.message}; given ${shown(key, raw.values[key])}. Allowed: ${spec?.allowed}. Fix: ${spec?.fix}`);
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
  if (config.spApiRegions.includes(config.spApiRegion)) {
    warnings.push(`${PROJECT}:spApiRegions repeats spApiRegion "${config.spApiRegion}"; it is served once.`);
  }
  return { config, warnings };
}
