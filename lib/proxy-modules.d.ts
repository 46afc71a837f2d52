// Types for the two proxy libraries lib/net.ts uses. proxy-from-env ships none; proxy-agent ships its own, but only
// behind package.json "exports", which this project's moduleResolution ("node") does not read. Each as its README
// documents it, reduced to what lib/net.ts calls.
declare module "proxy-from-env" {
  /** The proxy URL for a request to `url` from HTTP(S)_PROXY / ALL_PROXY / NO_PROXY (either case), or "" for none. */
  export function getProxyForUrl(url: string): string;
}

declare module "proxy-agent" {
  import { Agent } from "node:http";
  /** An http.Agent that sends each request through the proxy proxy-from-env names for its URL, or directly. */
  export class ProxyAgent extends Agent {
    constructor(opts?: { getProxyForUrl?: (url: string) => string });
  }
}
