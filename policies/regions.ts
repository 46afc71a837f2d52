/**
 * The Selling Partner API regions and what each needs on the AWS side.
 * Source: Amazon's SP-API developer guide ("SP-API endpoints"). `awsRegion` is the region requests
 * are signed for with SigV4 and the region the role's execute-api grant is scoped to.
 */
export const SP_API_REGIONS = {
  na: { awsRegion: "us-east-1", endpoint: "https://sellingpartnerapi-na.amazon.com" },
  eu: { awsRegion: "eu-west-1", endpoint: "https://sellingpartnerapi-eu.amazon.com" },
  fe: { awsRegion: "us-west-2", endpoint: "https://sellingpartnerapi-fe.amazon.com" },
} as const;

export type SpApiRegion = keyof typeof SP_API_REGIONS;

export const SP_API_REGION_NAMES = Object.keys(SP_API_REGIONS) as SpApiRegion[];

export function isSpApiRegion(value: unknown): value is SpApiRegion {
  return typeof value === "string" && Object.prototype.hasOwnProperty.call(SP_API_REGIONS, value);
}

export function awsRegionOf(region: SpApiRegion): string {
  return SP_API_REGIONS[region].awsRegion;
}

export function endpointOf(region: SpApiRegion): string {
  return SP_API_REGIONS[region].endpoint;
}

/** The SP-API region whose calls are signed for `awsRegion`, if any (the HJSON block holds the AWS region). */
export function spApiRegionForAwsRegion(awsRegion: string): SpApiRegion | undefined {
  return SP_API_REGION_NAMES.find((r) => SP_API_REGIONS[r].awsRegion === awsRegion);
}

/** The primary region first, then the further ones, each once. */
export function servedRegions(primary: SpApiRegion, further: readonly SpApiRegion[] = []): SpApiRegion[] {
  return [...new Set([primary, ...further])];
}
