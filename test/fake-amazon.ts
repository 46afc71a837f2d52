/**
 * A fake of the three services `npm run verify` talks to, on 127.0.0.1 (ephemeral port), for tests:
 * - STS, query protocol (POST form Action=GetCallerIdentity | AssumeRole), XML answers and ErrorResponse XML
 *   as real STS sends them; it checks the SDK's SigV4 signature with the user's secret;
 * - LWA, POST /auth/o2/token (form-encoded refresh_token grant), JSON answers;
 * - SP-API, GET /sellers/v1/marketplaceParticipations, which checks the token and the SigV4 signature.
 * Signatures are re-computed by `sigV4Signature` below: a separate ~30-line implementation on node:crypto,
 * not the @smithy signer the code under test uses, so a mistake in how verify calls the signer shows up.
 *
 * It also holds the peers that misbehave on the network (`misbehave`, `MisbehavingPeer`): one that accepts and
 * never answers, one that trickles its answer a byte at a time, one that answers garbage. Any command that
 * talks to a network reuses them, alone (MisbehavingPeer) or inside a fake of its own (misbehave).
 */
import { LoopbackServer } from "./loopback";
import * as crypto from "crypto";
import * as http from "http";

/** How a network peer misbehaves:
 * - "stall": reads the request, then never answers (the connection stays open);
 * - "trickle": answers 200 with its headers at once, then the body one byte per interval, never finishing;
 * - "trickle-headers": the same, but the status line and headers come a byte at a time too;
 * - "garbage": answers 200 at once, claiming JSON, with a body that is no service's answer (an HTML page
 *   holding ANSI escapes and control characters, as a captive portal or a hostile peer might);
 * - "redirect": answers 307 (method and body kept) pointing at `redirectTo`: a client that follows it sends
 *   its request, secrets included, elsewhere. */
export type Misbehaviour = "stall" | "trickle" | "trickle-headers" | "garbage" | "redirect";
export const MISBEHAVIOURS: readonly Misbehaviour[] = ["stall", "trickle", "trickle-headers", "garbage", "redirect"];

export interface MisbehaviourOptions {
  /** Between two trickled bytes; default 500 ms. */
  trickleIntervalMs?: number;
  /** The garbage body; default GARBAGE_BODY. */
  garbageBody?: string;
  /** The garbage status; default 200. */
  garbageStatus?: number;
  /** Where "redirect" points; default http://127.0.0.1:9/ (nothing listens there). */
  redirectTo?: string;
}

/** Text a terminal would obey: clear the screen, red, a bell, a bidi override. Never to reach the user raw. */
export const TERMINAL_ESCAPES = "\u001b[2J\u001b[31m\u0007\u202e";
export const GARBAGE_BODY = `<html><body>${TERMINAL_ESCAPES}Welcome to Hotel WiFi: please log in</body></html>\n`;

/** Answers `res` the misbehaving way. Timers stop when the connection closes (the client gave up, or the
 * server was stopped), so a test leaves nothing running. */
export function misbehave(kind: Misbehaviour, res: http.ServerResponse, options: MisbehaviourOptions = {}): void {
  const intervalMs = options.trickleIntervalMs ?? 500;
  const trickle = (write: (byte: string) => void, text: () => string) => {
    let sent = 0;
    const timer = setInterval(() => {
      const all = text();
      write(all[sent++ % all.length]);
    }, intervalMs);
    res.on("close", () => clearInterval(timer));
  };
  switch (kind) {
    case "stall":
      return;
    case "garbage": {
      const body = options.garbageBody ?? GARBAGE_BODY;
      res.writeHead(options.garbageStatus ?? 200, { "content-type": "application/json", "content-length": Buffer.byteLength(body) }).end(body);
      return;
    }
    case "redirect":
      res.writeHead(307, { location: options.redirectTo ?? "http://127.0.0.1:9/" }).end();
      return;
    case "trickle":
      // A length far beyond what will be sent: the client keeps waiting for the rest.
      res.writeHead(200, { "content-type": "application/json", "content-length": 1_000_000 });
      res.flushHeaders();
      trickle(
        (byte) => res.write(byte),
        () => '{"payload": [                                                      ',
      );
      return;
    case "trickle-headers": {
      const socket = res.socket;
      if (!socket) return;
      const head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nx-padding: " + "x".repeat(10_000);
      trickle(
        (byte) => socket.write(byte),
        () => head,
      );
      return;
    }
  }
}

/** A server that misbehaves the same way at every request, at any path: point any client at `url`. */
export class MisbehavingPeer extends LoopbackServer {
  /** Requests it received (each one then misbehaved). */
  requests = 0;
  private constructor(
    readonly kind: Misbehaviour,
    private readonly options: MisbehaviourOptions,
  ) {
    super();
  }

  static async open(kind: Misbehaviour, options: MisbehaviourOptions = {}): Promise<MisbehavingPeer> {
    const peer = new MisbehavingPeer(kind, options);
    await peer.start();
    return peer;
  }

  protected handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    this.requests++;
    req.resume();
    req.on("end", () => misbehave(this.kind, res, this.options));
  }
}

export const ACCOUNT = "123456789012";
export const REGION = "us-east-1";

/** Distinctive values, with the characters (/ + = |) that encoding slips tend to mangle or expose. */
export const SECRETS = {
  keyId: "AKIAZ2Q7EXAMPLE4WXYZ",
  keySecret: "wJal/rXUtn+FEMI/K7MDENG=bPxRfiCYSECRETKEY",
  sessionKeyId: "ASIAZ2Q7SESSION9ABCD",
  sessionSecret: "sEsS/ion+SeCrEt=Key/9xQ2+vVwZt8uYi7oP3lK",
  sessionToken: "FwoGZXIvYXdzE+/SeSsIoNtOkEn=//+AbCdEfGhIjKlMnOpQrStUvWxYz0123456789+/==",
  clientId: "amzn1.application-oa2-client.0123456789abcdef0123456789abcdef",
  clientSecret: "amzn1.oa2-cs.v1.f00dfacecafe5eed0ddba11c0ffee1234567890abcdef0123456789abcdef01",
  refreshToken: "Atzr|IwEBI/rEfReSh+ToKeN=xyz/AbC+123=456/789+DeF=GhI/JkL+MnO=PqR",
  accessToken: "Atza|IwEBI/aCcEsS+ToKeN=qrs/ZyX+987=654/321+WvU=TsR/QpO+NmL=KjI",
} as const;

/** A second authorization of the same app (the seller's EU marketplaces): LWA takes it as it takes SECRETS.refreshToken. */
export const EU_REFRESH_TOKEN = "Atzr|IwEBI/eU+aUtHoRiZaTiOn=/SeCoNd+ToKeN=0123456789";

export const USER_ARN = `arn:aws:iam::${ACCOUNT}:user/sp-api-connector`;
export const ROLE_ARN = `arn:aws:iam::${ACCOUNT}:role/SellingPartnerAPI`;
export const MARKETPLACES = [
  { id: "ATVPDKIKX0DER", name: "Amazon.com", countryCode: "US" },
  { id: "A2EUQ1WTGCTBG2", name: "Amazon.ca", countryCode: "CA" },
];

/** How the fake misbehaves in a test; reset for each test. */
export interface Behaviour {
  /** The identity GetCallerIdentity reports for the key (e.g. the account root). */
  callerArn: string;
  /** What to answer the next STS calls of each action with, one per call, before answering normally: an STS
   * error code (CamelCase), or a Misbehaviour ("stall", "trickle", ...). */
  failNext: { GetCallerIdentity: (string | Misbehaviour)[]; AssumeRole: (string | Misbehaviour)[] };
  /** A service that misbehaves at every request (after recording it). */
  misbehave?: Partial<Record<SeenRequest["service"], Misbehaviour>>;
  misbehaviourOptions?: MisbehaviourOptions;
  /** Requests wait for this before being answered: lets a test act while the client is mid-request. */
  holdUntil?: Promise<unknown>;
  /** The marketplaces SP-API lists (default MARKETPLACES). */
  marketplaces?: { id: string; name: string; countryCode: string }[];
  /** An error code AssumeRole always answers with. */
  assumeRoleAlways?: string;
  /** An LWA OAuth error to answer with, whatever the request. */
  lwaError?: "invalid_client" | "invalid_grant";
  /** An HTTP error status SP-API answers with, after its checks. */
  spApiStatus?: number;
  /** The IAM user's access key STS accepts and the role it may assume (default SECRETS.keyId/keySecret, ROLE_ARN):
   * another's for a block made elsewhere, such as by the stand-in Pulumi CLI. */
  user?: { keyId: string; keySecret: string; roleArn: string };
}

export interface SeenRequest {
  service: "sts" | "lwa" | "sp-api";
  action?: string;
  /** What the fake found wrong with the request (an empty list: well formed). */
  problems: string[];
  /** Signing scope parts, when signed. */
  keyId?: string;
  region?: string;
  signature?: string;
  form?: Record<string, string>;
}

const STS_XMLNS = "https://sts.amazonaws.com/doc/2011-06-15/";
const STS_ERROR_STATUS: Record<string, number> = {
  InvalidClientTokenId: 403,
  SignatureDoesNotMatch: 403,
  AccessDenied: 403,
  ValidationError: 400,
  RegionDisabledException: 403,
};
const STS_ERROR_MESSAGE: Record<string, string> = {
  InvalidClientTokenId: "The security token included in the request is invalid.",
  SignatureDoesNotMatch:
    "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.",
  AccessDenied: `User: ${USER_ARN} is not authorized to perform: sts:AssumeRole on resource: ${ROLE_ARN}`,
};

const sha256Hex = (data: string) => crypto.createHash("sha256").update(data, "utf8").digest("hex");
const hmac = (key: crypto.BinaryLike, data: string) => crypto.createHmac("sha256", key).update(data, "utf8").digest();
const rfc3986 = (s: string) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

const AUTHORIZATION = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})$/;

export interface ParsedAuthorization {
  keyId: string;
  date: string;
  region: string;
  service: string;
  signedHeaders: string[];
  signature: string;
}

export function parseAuthorization(header: string | undefined): ParsedAuthorization | undefined {
  const m = AUTHORIZATION.exec(header ?? "");
  return m ? { keyId: m[1], date: m[2], region: m[3], service: m[4], signedHeaders: m[5].split(";"), signature: m[6] } : undefined;
}

/** SigV4 per the AWS spec ("Create a signed AWS API request"), written independently of @smithy/signature-v4. */
export function sigV4Signature(
  request: { method: string; url: string; headers: http.IncomingHttpHeaders; body: string },
  auth: ParsedAuthorization,
  secret: string,
): string {
  const url = new URL(request.url, "http://placeholder");
  const query = [...url.searchParams.entries()]
    .map(([k, v]) => [rfc3986(k), rfc3986(v)])
    .sort(([a, x], [b, y]) => (a === b ? (x < y ? -1 : 1) : a < b ? -1 : 1))
    .map(([k, v]) => `${k}=${v}`)
    .join("&");
  const headerValue = (name: string) =>
    String(request.headers[name] ?? "")
      .trim()
      .replace(/\s+/g, " ");
  const canonicalHeaders = auth.signedHeaders.map((name) => `${name}:${headerValue(name)}\n`).join("");
  const payloadHash = (request.headers["x-amz-content-sha256"] as string | undefined) ?? sha256Hex(request.body);
  const canonicalRequest = [request.method, url.pathname, query, canonicalHeaders, auth.signedHeaders.join(";"), payloadHash].join("\n");
  const scope = `${auth.date}/${auth.region}/${auth.service}/aws4_request`;
  const stringToSign = ["AWS4-HMAC-SHA256", headerValue("x-amz-date"), scope, sha256Hex(canonicalRequest)].join("\n");
  let key: Buffer = hmac(`AWS4${secret}`, auth.date);
  for (const part of [auth.region, auth.service, "aws4_request"]) key = hmac(key, part);
  return crypto.createHmac("sha256", key).update(stringToSign, "utf8").digest("hex");
}

function xmlEscape(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

export class FakeAmazon extends LoopbackServer {
  behaviour: Behaviour = FakeAmazon.normal();
  seen: SeenRequest[] = [];

  static normal(): Behaviour {
    return { callerArn: USER_ARN, failNext: { GetCallerIdentity: [], AssumeRole: [] } };
  }

  reset(): void {
    this.behaviour = FakeAmazon.normal();
    this.seen = [];
  }

  /** The environment that points verify at this fake. */
  env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
    return {
      AWS_ENDPOINT_URL_STS: `${this.url}/sts`,
      SP_API_LWA_ENDPOINT: `${this.url}/lwa`,
      SP_API_ENDPOINT: `${this.url}/sp-api`,
      SP_API_VERIFY_TIMEOUT_MS: "5000",
      ...extra,
    };
  }

  /**
   * STS knows the key of a block made elsewhere (by the stand-in Pulumi CLI), as AWS knows the one pulumi up made:
   * it accepts that key, lets it assume the block's role, and names `userArn` as its caller.
   */
  acceptBlock(block: Record<string, string | undefined>, userArn: string): void {
    this.behaviour.user = { keyId: block.aws_access_key_id!, keySecret: block.aws_secret_access_key!, roleArn: block.role_arn! };
    this.behaviour.callerArn = userArn;
  }

  requests(service: SeenRequest["service"], action?: string): SeenRequest[] {
    return this.seen.filter((r) => r.service === service && (action === undefined || r.action === action));
  }

  protected handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (chunk: string) => (body += chunk));
    req.on("end", async () => {
      await this.behaviour.holdUntil;
      const path = new URL(req.url ?? "/", this.url).pathname;
      const request = { method: req.method ?? "GET", url: req.url ?? "/", headers: req.headers, body };
      const service = path.startsWith("/sts") ? "sts" : path.startsWith("/lwa") ? "lwa" : path.startsWith("/sp-api") ? "sp-api" : undefined;
      const misbehaviour = service && this.behaviour.misbehave?.[service];
      if (service && misbehaviour) {
        const action = service === "sts" ? (new URLSearchParams(body).get("Action") ?? undefined) : undefined;
        this.seen.push({ service, action, problems: [`misbehaved: ${misbehaviour}`] });
        return misbehave(misbehaviour, res, this.behaviour.misbehaviourOptions);
      }
      if (path === "/sts" || path === "/sts/") this.sts(request, res);
      else if (path === "/lwa/auth/o2/token") this.lwa(request, res);
      else if (path === "/sp-api/sellers/v1/marketplaceParticipations") this.spApi(request, res);
      else res.writeHead(404).end();
    });
  }

  private sts(request: Parameters<typeof sigV4Signature>[0], res: http.ServerResponse): void {
    const form = Object.fromEntries(new URLSearchParams(request.body));
    const action = form.Action;
    const auth = parseAuthorization(request.headers.authorization);
    const seen: SeenRequest = { service: "sts", action, problems: [], keyId: auth?.keyId, region: auth?.region, signature: auth?.signature, form };
    this.seen.push(seen);
    const xml = (status: number, text: string): void => void res.writeHead(status, { "content-type": "text/xml" }).end(text);
    const error = (code: string, message = STS_ERROR_MESSAGE[code] ?? code) =>
      xml(
        STS_ERROR_STATUS[code] ?? 400,
        `<ErrorResponse xmlns="${STS_XMLNS}">\n  <Error>\n    <Type>Sender</Type>\n    <Code>${code}</Code>\n    <Message>${xmlEscape(message)}</Message>\n  </Error>\n  <RequestId>${crypto.randomUUID()}</RequestId>\n</ErrorResponse>\n`,
      );

    if (!auth || auth.service !== "sts") return error("IncompleteSignature", "Authorization header missing or malformed");
    const user = this.behaviour.user ?? { keyId: SECRETS.keyId, keySecret: SECRETS.keySecret, roleArn: ROLE_ARN };
    if (auth.keyId !== user.keyId) return error("InvalidClientTokenId");
    if (sigV4Signature(request, auth, user.keySecret) !== auth.signature) return error("SignatureDoesNotMatch");
    const queued = action === "GetCallerIdentity" || action === "AssumeRole" ? this.behaviour.failNext[action].shift() : undefined;
    if (queued && (MISBEHAVIOURS as readonly string[]).includes(queued)) return misbehave(queued as Misbehaviour, res, this.behaviour.misbehaviourOptions);
    if (queued) return error(queued);

    const metadata = `  <ResponseMetadata>\n    <RequestId>${crypto.randomUUID()}</RequestId>\n  </ResponseMetadata>\n`;
    if (action === "GetCallerIdentity") {
      return xml(
        200,
        `<GetCallerIdentityResponse xmlns="${STS_XMLNS}">\n  <GetCallerIdentityResult>\n    <Arn>${this.behaviour.callerArn}</Arn>\n` +
          `    <UserId>AIDAZ2Q7USERID0EXAMPLE</UserId>\n    <Account>${ACCOUNT}</Account>\n  </GetCallerIdentityResult>\n${metadata}</GetCallerIdentityResponse>\n`,
      );
    }
    if (action === "AssumeRole") {
      if (this.behaviour.callerArn.endsWith(":root")) return error("AccessDenied", "Roles may not be assumed by root accounts.");
      if (this.behaviour.assumeRoleAlways) return error(this.behaviour.assumeRoleAlways);
      if (form.RoleArn !== user.roleArn) return error("AccessDenied");
      if (!/^[\w+=,.@-]{2,64}$/.test(form.RoleSessionName ?? "")) return error("ValidationError", "RoleSessionName");
      const expiration = new Date(Date.now() + 900_000).toISOString().replace(/\.\d{3}Z$/, "Z");
      return xml(
        200,
        `<AssumeRoleResponse xmlns="${STS_XMLNS}">\n  <AssumeRoleResult>\n    <AssumedRoleUser>\n` +
          `      <Arn>arn:aws:sts::${ACCOUNT}:assumed-role/SellingPartnerAPI/${form.RoleSessionName}</Arn>\n` +
          `      <AssumedRoleId>AROAZ2Q7ROLEID0EXAMPLE:${form.RoleSessionName}</AssumedRoleId>\n    </AssumedRoleUser>\n` +
          `    <Credentials>\n      <AccessKeyId>${SECRETS.sessionKeyId}</AccessKeyId>\n` +
          `      <SecretAccessKey>${SECRETS.sessionSecret}</SecretAccessKey>\n      <SessionToken>${SECRETS.sessionToken}</SessionToken>\n` +
          `      <Expiration>${expiration}</Expiration>\n    </Credentials>\n  </AssumeRoleResult>\n${metadata}</AssumeRoleResponse>\n`,
      );
    }
    return error("InvalidAction", `Could not find operation ${action}`);
  }

  private lwa(request: Parameters<typeof sigV4Signature>[0], res: http.ServerResponse): void {
    const form = Object.fromEntries(new URLSearchParams(request.body));
    const problems: string[] = [];
    if (request.method !== "POST") problems.push(`method ${request.method}`);
    if (!String(request.headers["content-type"]).startsWith("application/x-www-form-urlencoded")) problems.push("not form-encoded");
    if (form.grant_type !== "refresh_token") problems.push(`grant_type ${form.grant_type}`);
    this.seen.push({ service: "lwa", problems, form });
    const json = (status: number, value: unknown): void => void res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(value));
    // A hostile echo: the descriptions carry the submitted secrets, which verify must never print.
    const error =
      this.behaviour.lwaError ??
      (form.client_id !== SECRETS.clientId || form.client_secret !== SECRETS.clientSecret
        ? "invalid_client"
        : form.refresh_token !== SECRETS.refreshToken && form.refresh_token !== EU_REFRESH_TOKEN
          ? "invalid_grant"
          : undefined);
    if (error === "invalid_client") {
      return json(401, { error_description: `Client authentication failed for ${form.client_secret}`, error });
    }
    if (error === "invalid_grant") {
      return json(400, { error_description: `The request has an invalid grant parameter : refresh_token ${form.refresh_token}`, error });
    }
    if (problems.length > 0) return json(400, { error: "invalid_request", error_description: problems.join("; ") });
    return json(200, { access_token: SECRETS.accessToken, refresh_token: SECRETS.refreshToken, token_type: "bearer", expires_in: 3600 });
  }

  private spApi(request: Parameters<typeof sigV4Signature>[0], res: http.ServerResponse): void {
    const problems: string[] = [];
    const h = request.headers;
    const auth = parseAuthorization(h.authorization);
    const today = new Date().toISOString().slice(0, 10).replace(/-/g, "");
    if (request.method !== "GET") problems.push(`method ${request.method}`);
    if (h["x-amz-access-token"] !== SECRETS.accessToken) problems.push("x-amz-access-token is not the token LWA issued");
    if (h["x-amz-security-token"] !== SECRETS.sessionToken) problems.push("x-amz-security-token is not the session token");
    if (!auth) {
      problems.push("Authorization is not AWS4-HMAC-SHA256 Credential=.../aws4_request, SignedHeaders=..., Signature=<64 hex>");
    } else {
      if (auth.keyId !== SECRETS.sessionKeyId) problems.push("signed with another key than the session's");
      if (auth.date !== today) problems.push(`credential date ${auth.date}, not today ${today}`);
      if (auth.region !== REGION) problems.push(`signed for region ${auth.region}`);
      if (auth.service !== "execute-api") problems.push(`signed for service ${auth.service}`);
      for (const needed of ["host", "x-amz-date"]) if (!auth.signedHeaders.includes(needed)) problems.push(`${needed} not signed`);
      if (sigV4Signature(request, auth, SECRETS.sessionSecret) !== auth.signature) problems.push("signature does not verify with the session secret");
    }
    this.seen.push({ service: "sp-api", problems, keyId: auth?.keyId, region: auth?.region, signature: auth?.signature });
    const json = (status: number, value: unknown): void =>
      void res.writeHead(status, { "content-type": "application/json", "x-amzn-RequestId": "a1b2c3d4-fake-request" }).end(JSON.stringify(value));
    if (problems.length > 0) return json(400, { errors: [{ code: "FakeCheckFailed", message: problems.join("; ") }] });
    if (this.behaviour.spApiStatus === 403) {
      return json(403, { errors: [{ code: "Unauthorized", message: "Access to requested resource is denied.", details: "" }] });
    }
    if (this.behaviour.spApiStatus === 401) {
      return json(401, { errors: [{ code: "Unauthorized", message: "The access token you provided has expired.", details: "" }] });
    }
    if (this.behaviour.spApiStatus) return json(this.behaviour.spApiStatus, { errors: [{ code: "InternalFailure", message: "fake" }] });
    return json(200, {
      payload: (this.behaviour.marketplaces ?? MARKETPLACES).map((m) => ({
        marketplace: { ...m, defaultCurrencyCode: "USD", defaultLanguageCode: "en_US", domainName: "www.example.com" },
        participation: { isParticipating: true, hasSuspendedListings: false },
      })),
    });
  }
}
