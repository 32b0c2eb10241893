// Where Graph API calls go: Meta (GRAPH_API_URL) for real accounts, the in-process simulator for sandbox ones.

export class GraphEndpoint {
  private sandboxUrl: string;

  constructor(
    private readonly graphApiUrl: string,
    private readonly version: string,
    sandboxUrl: string,
  ) {
    this.sandboxUrl = sandboxUrl;
  }

  /** `https://graph.facebook.com/v23.0`, or the sandbox simulator's equivalent. */
  baseFor(isSandbox: boolean): string {
    return `${(isSandbox ? this.sandboxUrl : this.graphApiUrl).replace(/\/+$/, '')}/${this.version}`;
  }

  /** The sandbox simulator lives inside this service, whose port is known only once it listens. */
  setSandboxUrl(url: string): void {
    this.sandboxUrl = url;
  }
}
