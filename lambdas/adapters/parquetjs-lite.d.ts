/**
 * The part of parquetjs-lite 0.8.7 (CommonJS, no bundled types) that parquet-writer.ts uses.
 * Its throws are often plain strings, not Errors: callers must not assume `instanceof Error`.
 */
declare module 'parquetjs-lite' {
  import type { Writable } from 'node:stream';

  export interface ParquetFieldSpec {
    type: string;
    optional?: boolean;
    compression?: 'UNCOMPRESSED' | 'GZIP' | 'SNAPPY';
    encoding?: 'PLAIN' | 'RLE';
    /** `false` skips min/max/distinct statistics for the column. */
    statistics?: boolean;
  }

  export class ParquetSchema {
    constructor(fields: Record<string, ParquetFieldSpec>);
  }

  export interface ParquetWriterOptions {
    rowGroupSize?: number;
    pageSize?: number;
    useDataPageV2?: boolean;
  }

  export class ParquetWriter {
    static openStream(
      schema: ParquetSchema,
      stream: Writable,
      options?: ParquetWriterOptions,
    ): Promise<ParquetWriter>;
    appendRow(row: Record<string, unknown>): Promise<void>;
    close(): Promise<void>;
    setMetadata(key: string, value: string): void;
    /** Rows buffered before a row group is written; takes effect at the next appendRow. */
    setRowGroupSize(count: number): void;
  }

  const parquet: { ParquetSchema: typeof ParquetSchema; ParquetWriter: typeof ParquetWriter };
  export default parquet;
}
