import { ARGON2_OPTIONS, hashPassword, normalizeEmail, passwordProblem, verifyPassword } from './passwords';

describe('the password policy', () => {
  it.each([
    ['short', /at least 10 characters \(it has 5\)/],
    ['x'.repeat(129), /at most 128 characters/],
    ['zzzzzzzzzzzz', /one repeated character/],
    ['abcabcabcabc', /at least 4 different characters/],
    ['QwertyUIOP', /most common passwords/],
    ['ada.lovelace', /not be your email or name/],
    ['Ada Lovelace', /not be your email or name/],
  ])('refuses %j with a reason', (password, reason) => {
    expect(passwordProblem(password, 'Ada.Lovelace@Example.com', 'Ada Lovelace')).toMatch(reason);
  });

  it('accepts a long passphrase', () => {
    expect(passwordProblem('correct horse battery staple', 'ada@example.com', 'Ada')).toBeNull();
  });
});

describe('emails and hashes', () => {
  it('normalises emails: NFKC, trimmed, lower-cased', () => {
    expect(normalizeEmail('  Ada@ＥＸＡＭＰＬＥ.com ')).toBe('ada@example.com');
  });

  it('hashes with argon2id at OWASP parameters and verifies', async () => {
    expect(ARGON2_OPTIONS).toMatchObject({ memoryCost: 19 * 1024, timeCost: 2, parallelism: 1 });
    const hash = await hashPassword('correct horse battery staple');
    expect(hash).toMatch(/^\$argon2id\$v=19\$/);
    expect(await verifyPassword(hash, 'correct horse battery staple')).toBe(true);
    expect(await verifyPassword(hash, 'wrong')).toBe(false);
    expect(await verifyPassword('not a hash', 'x')).toBe(false);
  });
});
