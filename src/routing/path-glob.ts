/**
 * One path glob with the route table's semantics (route-table.ts): literal segments, `*` for one
 * non-empty segment, a final `**` for any rest of the path including nothing. For the few globs
 * of rate rules, where every matching rule applies (not just the first), so no trie is needed.
 */
export function compileGlob(pattern: string): (path: string) => boolean {
  const segments = pattern.slice(1).split('/');
  const rest = segments.at(-1) === '**';
  if (rest) segments.pop();
  const fixed = segments.length;
  return (path) => {
    let start = 1;
    for (let i = 0; i < fixed; i += 1) {
      if (start > path.length) return false;
      let end = path.indexOf('/', start);
      if (end === -1) end = path.length;
      const segment = segments[i]!;
      if (segment === '*' ? end === start : path.slice(start, end) !== segment) return false;
      start = end + 1;
    }
    return rest || start > path.length;
  };
}
