import { describe, expect, it } from 'vitest';
import { compileGlob } from './path-glob.js';

describe('compileGlob', () => {
  const table: [string, string, boolean][] = [
    ['/api/**', '/api', true],
    ['/api/**', '/api/', true],
    ['/api/**', '/api/a/b/c', true],
    ['/api/**', '/apis', false],
    ['/api/**', '/', false],
    ['/**', '/', true],
    ['/**', '/anything/at/all', true],
    ['/api/*/x', '/api/1/x', true],
    ['/api/*/x', '/api//x', false],
    ['/api/*/x', '/api/1/2/x', false],
    ['/api/*', '/api/1', true],
    ['/api/*', '/api/1/', false],
    ['/api/*', '/api', false],
    ['/auth/login', '/auth/login', true],
    ['/auth/login', '/auth/login/', false],
    ['/auth/login', '/auth/logins', false],
    ['/a/*/**', '/a/b', true],
    ['/a/*/**', '/a', false],
  ];
  for (const [pattern, path, expected] of table) {
    it(`${pattern} ${expected ? 'matches' : 'does not match'} ${path}`, () => expect(compileGlob(pattern)(path)).toBe(expected));
  }
});
