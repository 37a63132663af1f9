/**
 * A lake destination as users type it: `s3://bucket/prefix` or a local folder.
 */
import { resolve } from 'node:path';
import { ConfigError } from '#core/errors.ts';
import type { ObjectStore } from '#core/ports.ts';
import { createLocalStore } from './local-store.ts';
import { createS3Store } from './s3-store.ts';

export type Destination =
  | { readonly kind: 's3'; readonly bucket: string; readonly prefix: string }
  | { readonly kind: 'local'; readonly path: string };

const SCHEME = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//;
/**
 * Anything that starts like a URL (`s3:/bucket`, `s3:bucket`, `http:...`): a scheme of two or
 * more letters and a colon. One letter is a Windows drive (`C:\lake`), which stays a path.
 */
const URL_LIKE = /^([A-Za-z][A-Za-z0-9+.-]+):/;

/**
 * General purpose bucket naming rules:
 * https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html
 */
function bucketProblem(bucket: string): string | undefined {
  if (bucket.length < 3 || bucket.length > 63) return 'bucket name must be 3 to 63 characters';
  if (!/^[a-z0-9][a-z0-9.-]*[a-z0-9]$/.test(bucket)) {
    return 'bucket name must be lowercase letters, digits, "." and "-", starting and ending with a letter or digit';
  }
  if (bucket.includes('..')) return 'bucket name must not contain ".."';
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(bucket)) return 'bucket name must not look like an IP address';
  if (
    /^(xn--|sthree-|amzn-s3-demo-)/.test(bucket) ||
    /(-s3alias|--ol-s3|\.mrap|--x-s3|--table-s3)$/.test(bucket)
  ) {
    return 'bucket name uses a prefix or suffix S3 reserves';
  }
  return undefined;
}

function prefixProblem(prefix: string): string | undefined {
  if (prefix === '') return undefined;
  // One trailing "/" was already taken off (parseDestination): `s3://b/x/` is `s3://b/x`.
  if (prefix.startsWith('/') || prefix.endsWith('/') || prefix.includes('//')) {
    return 'prefix must not start with "/", contain "//" or end with more than one "/" (s3://bucket/prefix/ is s3://bucket/prefix)';
  }
  if (/[\u0000-\u001f\u007f\\]/.test(prefix))
    return 'prefix must not contain backslashes or control characters';
  if (prefix.split('/').some((segment) => segment === '.' || segment === '..')) {
    return 'prefix must not contain "." or ".." segments';
  }
  return undefined;
}

/**
 * Parses a destination; relative local paths are resolved against `cwd`. Exactly two forms are
 * accepted: `s3://bucket[/prefix]` (lowercase `s3://`, as the AWS CLI writes it) and a path.
 * Anything else that looks like a URL is refused rather than taken as a folder name: `s3:/b/x`
 * (one slash) used to write a local folder called `s3:` and report success. `file://...` is
 * refused too (give the path itself); a folder whose name has a colon is reached as `./a:b`.
 * `label` names the setting in errors (`--dest` on the command line).
 */
export function parseDestination(dest: string, cwd: string = process.cwd(), label = 'dest'): Destination {
  const invalid = (problem: string) => new ConfigError(label, `'${dest}': ${problem}`);
  if (dest.trim() === '') throw new ConfigError(label, 'must be a folder or s3://bucket/prefix');

  const scheme = SCHEME.exec(dest)?.[1];
  if (scheme === undefined) {
    const urlLike = URL_LIKE.exec(dest)?.[1];
    if (urlLike !== undefined) {
      throw invalid(
        urlLike.toLowerCase() === 's3'
          ? 'an S3 destination is written s3://bucket/prefix (two slashes); for a local folder whose name starts with "s3:", write ./' +
              dest
          : `looks like a URL ('${urlLike}:'): use s3://bucket/prefix or a folder path (a folder named like this: ./${dest})`,
      );
    }
    return { kind: 'local', path: resolve(cwd, dest) };
  }
  if (scheme === 'file') throw invalid('give the folder as a path, without file://');
  if (scheme !== 's3') {
    throw invalid(
      scheme.toLowerCase() === 's3'
        ? `write the scheme in lowercase: s3://${dest.slice(scheme.length + 3)}`
        : `unsupported scheme '${scheme}://' (use s3:// or a folder)`,
    );
  }

  const rest = dest.slice(scheme.length + 3);
  const slash = rest.indexOf('/');
  const bucket = slash === -1 ? rest : rest.slice(0, slash);
  // One trailing slash is what people type for "this folder"; it is not part of the prefix.
  const prefix = slash === -1 ? '' : rest.slice(slash + 1).replace(/\/$/, '');
  const problem = bucketProblem(bucket) ?? prefixProblem(prefix);
  if (problem) throw invalid(problem);
  return { kind: 's3', bucket, prefix };
}

/** Opens the store a destination names (the S3 client is configured from the environment). */
export function openStore(dest: string): ObjectStore {
  const destination = parseDestination(dest);
  return destination.kind === 's3'
    ? createS3Store({ bucket: destination.bucket, prefix: destination.prefix })
    : createLocalStore(destination.path);
}
