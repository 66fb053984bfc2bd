/** Types for free-port.mjs (plain JavaScript: the cluster example runs it without a compiler). */
export declare function freePort(): Promise<number>;
