import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import type { Resealable } from '../../secrets/resealable.js';
import { race, type ContractFactory, type ContractSubject } from './contract-subject.js';

/**
 * How a contract run puts sealed values into a store part through its own verbs (the sealed text
 * is opaque to a store) and reads one back the way the feature does.
 */
export interface ResealableFixture<T> {
  resealable(store: T): Resealable;
  /** Stores `sealed` as row number `index` (0, 1, …); returns the entry listSealed must show for it. */
  seed(store: T, index: number, sealed: string): Promise<{ id: string; aad: string }>;
  /** The sealed value the feature itself would read for `id` now. */
  read(store: T, id: string): Promise<string | null>;
  /** How many distinct rows `seed` can make (the meta store has one sealed key). */
  capacity: number;
}

/**
 * The behaviour every Resealable store part must have (secrets/resealable.ts): what master-key
 * rotation relies on to re-seal values while gateways keep reading and writing them.
 */
export function describeResealableContract<T>(name: string, factory: ContractFactory<T>, fixture: ResealableFixture<T>): void {
  describe(`${name}: Resealable contract`, () => {
    let subject: ContractSubject<T>;

    beforeEach(async () => {
      subject = await factory();
    });
    afterEach(async () => {
      await subject.cleanup();
    });

    test('listSealed is empty on a fresh store', async () => {
      expect(await fixture.resealable(subject.store).listSealed()).toEqual([]);
    });

    test('listSealed shows every sealed value with its id and aad, from either connection', async () => {
      const count = Math.min(fixture.capacity, 3);
      const expected = [];
      for (let i = 0; i < count; i++) expected.push({ ...(await fixture.seed(subject.store, i, `sealed-${i}`)), sealed: `sealed-${i}` });
      const listed = await fixture.resealable(subject.peer).listSealed();
      expect([...listed].sort((a, b) => a.id.localeCompare(b.id))).toEqual(expected.sort((a, b) => a.id.localeCompare(b.id)));
    });

    test('replaceSealed replaces the value the feature reads, seen by the other connection', async () => {
      const { id } = await fixture.seed(subject.store, 0, 'sealed-old');
      expect(await fixture.resealable(subject.store).replaceSealed(id, 'sealed-old', 'sealed-new')).toBe(true);
      expect(await fixture.read(subject.peer, id)).toBe('sealed-new');
      expect((await fixture.resealable(subject.peer).listSealed()).map((e) => e.sealed)).toEqual(['sealed-new']);
    });

    test('replaceSealed is a compare-and-set: a value changed since it was listed is left alone', async () => {
      const { id } = await fixture.seed(subject.store, 0, 'sealed-listed');
      await fixture.seed(subject.peer, 0, 'sealed-written-meanwhile');
      expect(await fixture.resealable(subject.store).replaceSealed(id, 'sealed-listed', 'sealed-rotated')).toBe(false);
      expect(await fixture.read(subject.store, id)).toBe('sealed-written-meanwhile');
    });

    test('replaceSealed of a row that does not exist is false and creates nothing', async () => {
      const { id } = await fixture.seed(subject.store, 0, 'sealed-0');
      const resealable = fixture.resealable(subject.store);
      expect(await resealable.replaceSealed(`${id}-missing`, 'sealed-0', 'sealed-new')).toBe(false);
      expect(await resealable.listSealed()).toHaveLength(1);
    });

    test('replaceSealed touches only its row', async () => {
      if (fixture.capacity < 2) return;
      const first = await fixture.seed(subject.store, 0, 'sealed-0');
      const second = await fixture.seed(subject.store, 1, 'sealed-1');
      expect(await fixture.resealable(subject.store).replaceSealed(first.id, 'sealed-0', 'sealed-0b')).toBe(true);
      expect(await fixture.read(subject.peer, second.id)).toBe('sealed-1');
    });

    test('concurrent replaceSealed of one value across both connections: exactly one wins, and its value is stored', async () => {
      const { id } = await fixture.seed(subject.store, 0, 'sealed-old');
      const results = await race(subject, (s, i) => fixture.resealable(s).replaceSealed(id, 'sealed-old', `sealed-${i}`));
      const winners = results.flatMap((won, i) => (won ? [i] : []));
      expect(winners).toHaveLength(1);
      expect(await fixture.read(subject.peer, id)).toBe(`sealed-${winners[0]}`);
    });
  });
}
