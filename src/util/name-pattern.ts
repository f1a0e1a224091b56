// Layer-name patterns, shared by `--layers` and the per-layer budgets of the config file.
// Two forms: `/regex/flags` (searched, as the user wrote it) or a glob matched against the
// whole name, where `*` is any run of characters (including `/`: ONNX node names such as
// `/features/features.0/Conv` use it as plain text, not as a path separator) and `?` is one.

export type NamePredicate = (name: string) => boolean;

const REGEX_FORM = /^\/(.+)\/([a-z]*)$/s;

/** Compile a pattern; throws a plain Error with a readable message when the regex is invalid. */
export function compileNamePattern(pattern: string): NamePredicate {
  const re = REGEX_FORM.exec(pattern);
  if (re) {
    let regex: RegExp;
    try {
      regex = new RegExp(re[1], re[2]);
    } catch (err) {
      throw new Error(`invalid regular expression ${pattern}: ${(err as Error).message}`);
    }
    // A 'g' or 'y' flag would make test() stateful between layers.
    return (name) => {
      regex.lastIndex = 0;
      return regex.test(name);
    };
  }
  const source = Array.from(pattern, (ch) => (ch === '*' ? '.*' : ch === '?' ? '.' : escapeRegexChar(ch))).join('');
  const glob = new RegExp(`^${source}$`, 's');
  return (name) => glob.test(name);
}

function escapeRegexChar(ch: string): string {
  return /[\\^$.|+()[\]{}]/.test(ch) ? `\\${ch}` : ch;
}
