import type { FastifyInstance } from 'fastify';
import { v7 as uuidv7 } from 'uuid';
import { createUser } from '../accounts/accounts';
import type { NewDeal } from '../actors/deal/messages';
import { DealEntity } from '../persistence/entities/deal.entity';
import { UserEntity } from '../persistence/entities/user.entity';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

/** Demo accounts (documented in the README; for a local try-out only). */
export const DEMO_ACCOUNTS = {
  seller: { email: 'seller@demo.dealrush.test', password: 'demo-seller-pass', name: 'Demo Seller' },
  shopper: { email: 'shopper@demo.dealrush.test', password: 'demo-shopper-pass', name: 'Demo Shopper' },
} as const;

/**
 * Seeds a seller, a shopper and five deals when the database has no deal yet: one opening a
 * minute from now (`DEMO_OPENS_IN_SECONDS`, 300 units), one open now, one starting tomorrow, one
 * with a waiting room opening two such intervals from now, and one that has ended.
 * Returns null when there was data already.
 */
export async function seedDemoData(app: FastifyInstance, now = Date.now()): Promise<{ seller: { email: string }; deals: string[] } | null> {
  const existing = await app.db.read((m) => m.count(DealEntity));
  if (existing > 0) return null;
  const seller =
    (await app.db.read((m) => m.findOne(UserEntity, { where: { email: DEMO_ACCOUNTS.seller.email } }))) ??
    (await createUser(app.db, { ...DEMO_ACCOUNTS.seller, roles: ['shopper', 'seller'] }, now));
  if (!(await app.db.read((m) => m.findOne(UserEntity, { where: { email: DEMO_ACCOUNTS.shopper.email } })))) {
    await createUser(app.db, { ...DEMO_ACCOUNTS.shopper }, now);
  }
  const base = { sellerId: seller!.id, imageUrl: null, currency: 'KRW', waitingRoom: { enabled: false, admissionPerMinute: 600, maxActive: 500 } };
  const deals: NewDeal[] = [
    {
      ...base, id: uuidv7(), title: 'Noise-cancelling headphones, 62% off', category: 'electronics',
      description: 'Over-ear, 40 h battery, USB-C. The flash sale opens shortly after the server starts.',
      price: 89_000, originalPrice: 235_000, totalStock: 300, perUserLimit: 2, startsAt: now + app.config.demoOpensInSeconds * 1000, endsAt: now + 2 * HOUR,
    },
    {
      ...base, id: uuidv7(), title: 'Single-origin coffee beans, 1 kg', category: 'food',
      description: 'Ethiopia Yirgacheffe, roasted this week. On sale now.',
      price: 19_900, originalPrice: 32_000, totalStock: 120, perUserLimit: 3, startsAt: now - 10 * MINUTE, endsAt: now + 3 * HOUR,
    },
    {
      ...base, id: uuidv7(), title: 'Mechanical keyboard, hot-swappable', category: 'electronics',
      description: 'Aluminium case, gasket mount, tactile switches. Tomorrow only.',
      price: 99_000, originalPrice: 189_000, totalStock: 500, perUserLimit: 1, startsAt: now + 24 * HOUR, endsAt: now + 26 * HOUR,
    },
    {
      // The waiting room in action: a pre-queue before the start, then admission at 60 a minute.
      ...base, id: uuidv7(), title: 'Handheld game console, launch edition', category: 'electronics',
      description: 'Limited launch stock with a waiting room: join the queue before the start; places are drawn at the start.',
      price: 299_000, originalPrice: 399_000, totalStock: 200, perUserLimit: 1, startsAt: now + 2 * app.config.demoOpensInSeconds * 1000, endsAt: now + 3 * HOUR,
      waitingRoom: { enabled: true, admissionPerMinute: 60, maxActive: 50, paused: false },
    },
    {
      ...base, id: uuidv7(), title: 'Linen bed set (queen)', category: 'home',
      description: 'Stonewashed French linen. This sale has ended.',
      price: 129_000, originalPrice: 259_000, totalStock: 80, perUserLimit: 2, startsAt: now - 3 * HOUR, endsAt: now - HOUR,
    },
  ];
  for (const deal of deals) await app.actors.ask({ kind: 'deal', id: deal.id }, { type: 'create', now, deal });
  return { seller: { email: DEMO_ACCOUNTS.seller.email }, deals: deals.map((d) => d.id) };
}
