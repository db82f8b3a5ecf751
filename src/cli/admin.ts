import { parseArgs } from 'node:util';
import { ensureAdmin } from '../accounts/accounts';
import { ConfigError, loadConfig } from '../config';
import { openDatabase } from '../persistence/data-source';
import { Database } from '../persistence/database';

const USAGE = `usage: npm run admin -- create --email EMAIL [--name NAME]

Makes EMAIL an admin, against the same configuration as the server (DATABASE_URL, DATA_DIR):
creates the account (roles shopper and admin) when no account has the email, or gives the admin
role to the one that has it (its password unchanged). The password of a new account is read from
the ADMIN_PASSWORD environment variable (never from the command line, where other users of the
machine could see it); it must pass the password policy. The server does the same at start when
ADMIN_EMAIL and ADMIN_PASSWORD are set.`;

/** `npm run admin`: the first admin, or another one, without a running server. */
async function main(): Promise<void> {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { email: { type: 'string' }, name: { type: 'string' }, help: { type: 'boolean' } } });
  if (values.help) return void console.log(USAGE);
  const problems = [
    positionals[0] !== 'create' && 'the command is create',
    !values.email && '--email EMAIL is required',
  ].filter(Boolean);
  if (problems.length > 0) {
    console.error(`${problems.join('\n')}\n\n${USAGE}`);
    process.exit(64);
  }
  const config = loadConfig({ ...process.env, ADMIN_EMAIL: undefined, ADMIN_PASSWORD: undefined });
  const dataSource = await openDatabase(config.database, 2);
  try {
    const { outcome, user } = await ensureAdmin(new Database(dataSource), { email: values.email!, password: process.env.ADMIN_PASSWORD ?? '', name: values.name });
    console.error(
      outcome === 'created' ? `created admin ${user.email} (${user.id})` : outcome === 'promoted' ? `${user.email} (${user.id}) is now an admin` : `${user.email} (${user.id}) was already an admin`,
    );
  } finally {
    await dataSource.destroy();
  }
}

main().catch((error) => {
  console.error(error instanceof ConfigError ? `admin cannot start: ${error.message}` : `admin: ${(error as Error).message}`);
  process.exit(1);
});
