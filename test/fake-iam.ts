/**
 * A fake IAM on 127.0.0.1 for `npm run rotate-key`: the query protocol (POST form Action=ListAccessKeys |
 * GetAccessKeyLastUsed, Version=2010-05-08), XML answers and ErrorResponse XML as IAM sends them. It checks
 * the SDK's SigV4 signature (service "iam") with the operator's secret, re-computed by the fake's own signer
 * in fake-amazon.ts, so the command's real @aws-sdk/client-iam is exercised end to end.
 */
import { LoopbackServer } from "./loopback";
import * as crypto from "crypto";
import * as http from "http";
import { parseAuthorization, sigV4Signature } from "./fake-amazon";

const IAM_XMLNS = "https://iam.amazonaws.com/doc/2010-05-08/";

/** The operator's credentials (the ones `pulumi up` would use), distinct from the connector's keys. */
export const OPERATOR = {
  keyId: "AKIAOPERATOR7EXAMPLE",
  secret: "oPeR/aToR+SeCrEt=Key/ForTheIamFake+0123456",
  arn: "arn:aws:iam::123456789012:user/operator",
} as const;

export interface FakeKey {
  id: string;
  status: "Active" | "Inactive";
  createDate: string;
  /** Absent: IAM has no record of a use (answers N/A). */
  lastUsed?: { date: string; service: string; region: string };
}

export type IamAction = "ListAccessKeys" | "GetAccessKeyLastUsed";

export interface IamBehaviour {
  /** Actions the operator is not allowed (AccessDenied, as IAM words it). */
  deny: IamAction[];
  /** Accept the connection and never answer. */
  stall?: IamAction;
  /** Answer 200 with text that is not IAM's XML. */
  garbage?: IamAction;
  /** Send the headers, then a byte every 100 ms, never finishing. */
  trickle?: IamAction;
}

export interface SeenIamRequest {
  action: string;
  form: Record<string, string>;
  /** What the fake found wrong with the request; empty when it is well formed and correctly signed. */
  problems: string[];
}

function xmlEscape(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

export class FakeIam extends LoopbackServer {
  keys: FakeKey[] = [];
  userName = "sp-api-connector";
  /** Several users' keys (a fleet test); when set, it answers for these users instead of `userName`/`keys`. */
  users?: Map<string, FakeKey[]>;
  behaviour: IamBehaviour = { deny: [] };
  seen: SeenIamRequest[] = [];

  reset(): void {
    this.keys = [];
    this.users = undefined;
    this.behaviour = { deny: [] };
    this.seen = [];
  }

  /** The environment that sends the operator's IAM calls here. */
  env(): NodeJS.ProcessEnv {
    return {
      AWS_ENDPOINT_URL_IAM: this.url,
      AWS_ACCESS_KEY_ID: OPERATOR.keyId,
      AWS_SECRET_ACCESS_KEY: OPERATOR.secret,
      AWS_REGION: "eu-west-1",
    };
  }

  protected handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (chunk: string) => (body += chunk));
    req.on("end", () => this.answer({ method: req.method ?? "GET", url: req.url ?? "/", headers: req.headers, body }, res));
  }

  private answer(request: Parameters<typeof sigV4Signature>[0], res: http.ServerResponse): void {
    const form = Object.fromEntries(new URLSearchParams(request.body));
    const action = form.Action ?? "";
    const seen: SeenIamRequest = { action, form, problems: [] };
    this.seen.push(seen);
    const xml = (status: number, text: string): void => void res.writeHead(status, { "content-type": "text/xml" }).end(text);
    const error = (status: number, code: string, message: string) =>
      xml(
        status,
        `<ErrorResponse xmlns="${IAM_XMLNS}">\n  <Error>\n    <Type>Sender</Type>\n    <Code>${code}</Code>\n    <Message>${xmlEscape(message)}</Message>\n  </Error>\n  <RequestId>${crypto.randomUUID()}</RequestId>\n</ErrorResponse>\n`,
      );
    const auth = parseAuthorization(request.headers.authorization);
    if (!auth || auth.service !== "iam") {
      seen.problems.push(`not signed for iam: ${auth?.service ?? "no Authorization"}`);
      return error(400, "IncompleteSignature", "Authorization header missing or malformed");
    }
    if (auth.region !== "us-east-1") seen.problems.push(`signed for region ${auth.region}; IAM signs in us-east-1`);
    if (auth.keyId !== OPERATOR.keyId) return error(403, "InvalidClientTokenId", "The security token included in the request is invalid.");
    if (sigV4Signature(request, auth, OPERATOR.secret) !== auth.signature) {
      seen.problems.push("bad signature");
      return error(403, "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided.");
    }
    if (form.Version !== "2010-05-08") seen.problems.push(`Version ${form.Version}`);
    if (action === this.behaviour.stall) return; // the socket stays open, unanswered
    if (action === this.behaviour.garbage) return void res.writeHead(200, { "content-type": "text/xml" }).end("<html><body>Gateway says hello</body>");
    if (action === this.behaviour.trickle) {
      res.writeHead(200, { "content-type": "text/xml" });
      const timer = setInterval(() => res.write(" "), 100);
      res.on("close", () => clearInterval(timer));
      return;
    }
    if (this.behaviour.deny.includes(action as IamAction)) {
      const resource = action === "ListAccessKeys" ? `user ${form.UserName}` : `access key ${form.AccessKeyId}`;
      return error(403, "AccessDenied", `User: ${OPERATOR.arn} is not authorized to perform: iam:${action} on resource: ${resource}`);
    }
    const envelope = (inner: string) =>
      xml(
        200,
        `<${action}Response xmlns="${IAM_XMLNS}">\n  <${action}Result>\n${inner}  </${action}Result>\n  <ResponseMetadata>\n    <RequestId>${crypto.randomUUID()}</RequestId>\n  </ResponseMetadata>\n</${action}Response>\n`,
      );
    const users = this.users ?? new Map([[this.userName, this.keys]]);
    if (action === "ListAccessKeys") {
      const keys = users.get(form.UserName ?? "");
      if (!keys) return error(404, "NoSuchEntity", `The user with name ${form.UserName} cannot be found.`);
      const members = keys
        .map(
          (k) =>
            `      <member>\n        <UserName>${form.UserName}</UserName>\n        <AccessKeyId>${k.id}</AccessKeyId>\n        <Status>${k.status}</Status>\n        <CreateDate>${k.createDate}</CreateDate>\n      </member>\n`,
        )
        .join("");
      return envelope(
        `    <UserName>${form.UserName}</UserName>\n    <AccessKeyMetadata>\n${members}    </AccessKeyMetadata>\n    <IsTruncated>false</IsTruncated>\n`,
      );
    }
    if (action === "GetAccessKeyLastUsed") {
      const owner = [...users].find(([, keys]) => keys.some((k) => k.id === form.AccessKeyId));
      const key = owner?.[1].find((k) => k.id === form.AccessKeyId);
      if (!owner || !key) return error(404, "NoSuchEntity", `The Access Key with id ${form.AccessKeyId} cannot be found.`);
      const used = key.lastUsed
        ? `      <Region>${key.lastUsed.region}</Region>\n      <LastUsedDate>${key.lastUsed.date}</LastUsedDate>\n      <ServiceName>${key.lastUsed.service}</ServiceName>\n`
        : `      <Region>N/A</Region>\n      <ServiceName>N/A</ServiceName>\n`;
      return envelope(`    <AccessKeyLastUsed>\n${used}    </AccessKeyLastUsed>\n    <UserName>${owner[0]}</UserName>\n`);
    }
    error(400, "InvalidAction", `Could not find operation ${action} for version 2010-05-08`);
  }
}
