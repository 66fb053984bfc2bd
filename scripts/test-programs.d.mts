/** Types for test-programs.mjs (plain JavaScript so that it runs before TypeScript is compiled). */
export interface Requirement {
  command: string;
  path?: string;
  pkg: string;
  usedBy: string;
}

export type Plan =
  | { action: 'none' }
  | { action: 'install'; packages: string[]; sudo: boolean }
  | { action: 'stop'; packages: string[]; message: string };

export declare const requirements: readonly Requirement[];
export declare const benchRequirements: readonly Requirement[];
export declare const purposes: Readonly<Record<'test' | 'bench', { list: readonly Requirement[]; command: string }>>;
export declare function isInstalled(program: { command: string; path?: string }, pathList: string): boolean;
export declare function plan(input: { missing: readonly Requirement[]; isRoot: boolean; hasAptGet: boolean; canUseSudo: () => boolean; command?: string }): Plan;
export declare function stopMessage(missing: readonly Requirement[], packages: readonly string[], command?: string): string;
