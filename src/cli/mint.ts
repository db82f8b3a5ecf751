import { createWriteStream } from 'node:fs';
import { parseArgs } from 'node:util';
import { SingleBar, Presets } from 'cli-progress';
import { v7 as uuidv7 } from 'uuid';
import { accessTokenSigner } from '../accounts/tokens';
import { hashPassword } from '../accounts/passwords';
import { ConfigError, loadConfig } from '../config';
import type { Role } from '../http/schemas';
import { openDatabase } from '../persistence/data-source';
import { UserEntity } from '../persistence/entities/user.entity';

const USAGE = `usage: npm run mint -- --role shopper|seller|admin --count N --out FILE [--ttl-hours H]

Creates N accounts with the role (against the same configuration as the server: DATABASE_URL,
DATA_DIR, JWT_SECRET) and writes one JSON object a line: { "userId", "email", "accessToken" }.
Tokens are valid for --ttl-hours (default 4). The accounts share one random password nobody knows:
they are for load and acceptance tests, which use the tokens.`;

/** `npm run mint`: fixtures for load and acceptance tests (CONTRACT.md, Accounts). */
async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { role: { type: 'string' }, count: { type: 'string' }, out: { type: 'string' }, 'ttl-hours': { type: 'string', default: '4' }, help: { type: 'boolean' } },
  });
  if (values.help) return void console.log(USAGE);
  const role = values.role as Role;
  const count = Number(values.count);
  const ttlHours = Number(values['ttl-hours']);
  const problems = [
    !['shopper', 'seller', 'admin'].includes(role) && '--role must be shopper, seller or admin',
    !(Number.isInteger(count) && count >= 1 && count <= 1_000_000) && '--count must be a whole number from 1 to 1000000',
    !values.out && '--out FILE is required',
    !(ttlHours >= 2 && ttlHours <= 720) && '--ttl-hours must be between 2 and 720',
  ].filter(Boolean);
  if (problems.length > 0) {
    console.error(`${problems.join('\n')}\n\n${USAGE}`);
    process.exit(64);
  }
  const config = loadConfig();
  const dataSource = await openDatabase(config.database, 4);
  const roles: Role[] = role === 'shopper' ? ['shopper'] : ['shopper', role];
  const sign = accessTokenSigner(config.jwtSecret, ttlHours * 3600);
  const passwordHash = await hashPassword(`${uuidv7()}${uuidv7()}`);
  const out = createWriteStream(values.out!);
  const bar = new SingleBar({ format: 'minting {bar} {value}/{total} accounts ({eta}s left)', stream: process.stderr }, Presets.shades_classic);
  bar.start(count, 0);
  const runId = Date.now().toString(36);
  const now = Date.now();
  for (let offset = 0; offset < count; offset += 500) {
    const rows: UserEntity[] = [];
    for (let i = offset; i < Math.min(count, offset + 500); i++) {
      rows.push({
        id: uuidv7(), email: `${role}-${runId}-${i}@mint.dealrush.test`, passwordHash, name: `${role} ${i}`, roles: roles.join(','), createdAt: now,
        status: 'active', suspendedAt: null, failedLogins: 0, lastFailedLoginAt: null, lockedUntil: null, defaultShippingAddress: null,
      });
    }
    await dataSource.createQueryBuilder().insert().into(UserEntity).values(rows).execute();
    for (const row of rows) out.write(`${JSON.stringify({ userId: row.id, email: row.email, accessToken: sign(row.id, roles) })}\n`);
    bar.update(Math.min(count, offset + 500));
  }
  bar.stop();
  await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
  await dataSource.destroy();
  console.error(`wrote ${count} ${role} accounts to ${values.out}`);
}

main().catch((error) => {
  console.error(error instanceof ConfigError ? `mint cannot start: ${error.message}` : error);
  process.exit(1);
});
