/** Deals by id, the storefront list, and live patches from the deal page. */
import { defineStore } from 'pinia';
import { computed, ref } from 'vue';
import { api } from '../api';
import type { Deal, Page } from '../types';

/** Most pages of `GET /api/deals` the storefront follows, as a guard against a cursor loop. */
const MAX_PAGES = 20;

export const useDealsStore = defineStore('deals', () => {
  const byId = ref<Record<string, Deal>>({});
  const listIds = ref<string[]>([]);
  const listLoaded = ref(false);
  const list = computed(() => listIds.value.map((id) => byId.value[id]).filter((d): d is Deal => !!d));
  const inFlight = new Map<string, Promise<Deal>>();

  /** Adds or replaces one deal. */
  function upsert(deal: Deal): void {
    byId.value[deal.id] = deal;
  }

  /** Applies a partial update (a live event) to a known deal; unknown ids are ignored. */
  function patch(id: string, changes: Partial<Deal>): void {
    const deal = byId.value[id];
    if (deal) byId.value[id] = { ...deal, ...changes };
  }

  /** `GET /api/deals?limit=100`, following `nextCursor`; replaces the storefront list. */
  async function fetchAll(): Promise<void> {
    const ids: string[] = [];
    let cursor: string | null = null;
    for (let page = 0; page < MAX_PAGES; page++) {
      const query: string = cursor ? `&cursor=${encodeURIComponent(cursor)}` : '';
      const answer: Page<Deal> = await api<Page<Deal>>(`/api/deals?limit=100${query}`);
      for (const deal of answer.items) {
        upsert(deal);
        ids.push(deal.id);
      }
      cursor = answer.nextCursor ?? null;
      if (!cursor || answer.items.length === 0) break;
    }
    listIds.value = ids;
    listLoaded.value = true;
  }

  /** `GET /api/deals/:dealId`, without storing the answer (the caller decides if it is newer). */
  function load(id: string): Promise<Deal> {
    let pending = inFlight.get(id);
    if (!pending) {
      pending = api<Deal>(`/api/deals/${encodeURIComponent(id)}`).finally(() => inFlight.delete(id));
      inFlight.set(id, pending);
    }
    return pending;
  }

  /** Makes sure a deal is known (e.g. to name an order's items); failures are ignored. */
  async function ensure(id: string): Promise<void> {
    if (byId.value[id]) return;
    try {
      upsert(await load(id));
    } catch {
      // the item keeps showing its id
    }
  }

  return { byId, list, listLoaded, upsert, patch, fetchAll, load, ensure };
});
