/** The part of autocannon 9's API (CommonJS, no types of its own) the receiver benchmark uses. */
declare module 'autocannon' {
  interface Histogram {
    readonly average: number;
    readonly p50: number;
    readonly p90: number;
    readonly p97_5: number;
    readonly p99: number;
    readonly max: number;
  }
  interface RawRequest {
    method?: string;
    path?: string;
    headers?: Record<string, string>;
    body?: string | Buffer;
  }
  interface Options {
    url: string;
    method?: string;
    connections?: number;
    duration?: number;
    amount?: number;
    overallRate?: number;
    requests?: { method?: string; setupRequest?: (request: RawRequest) => RawRequest }[];
  }
  interface Result {
    readonly latency: Histogram;
    readonly requests: { readonly average: number; readonly total: number; readonly sent: number };
    readonly '2xx': number;
    readonly non2xx: number;
    readonly errors: number;
    readonly timeouts: number;
    readonly duration: number;
  }
  function autocannon(options: Options): Promise<Result>;
  export default autocannon;
}
