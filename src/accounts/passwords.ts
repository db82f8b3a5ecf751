import argon2 from 'argon2';

/**
 * Password hashing with argon2id at OWASP's minimum (Password Storage Cheat Sheet):
 * m = 19 MiB, t = 2, p = 1.
 */
export const ARGON2_OPTIONS = { type: argon2.argon2id, memoryCost: 19 * 1024, timeCost: 2, parallelism: 1 } as const;

export const hashPassword = (password: string): Promise<string> => argon2.hash(password, ARGON2_OPTIONS);

export async function verifyPassword(hash: string, password: string): Promise<boolean> {
  try {
    return await argon2.verify(hash, password);
  } catch {
    return false;
  }
}

/** A hash used to spend the same time when the email is unknown (no user enumeration by timing). */
let decoy: Promise<string> | null = null;
export async function spendVerifyTime(password: string): Promise<void> {
  decoy ??= hashPassword('decoy-password-for-timing');
  await verifyPassword(await decoy, password);
}

/** Passwords of 10+ characters that lead breached-password lists; refused by name. */
const COMMON = new Set([
  '1234567890', '0123456789', '12345678910', '0987654321', '1111111111', 'qwertyuiop', 'password12', 'password123', 'password1234',
  'passw0rd123', 'iloveyou12', 'qwerty1234', 'qwerty12345', '1q2w3e4r5t', '1qaz2wsx3edc', 'abcdefghij', 'abc1234567', 'letmein123',
  'welcome123', 'administrator', 'changeme123', 'football123', 'sunshine123', 'dealrush123', 'dealrush2025',
]);

/**
 * The password policy (NIST SP 800-63B §3.1.1.2: length over composition rules, and no
 * commonly used or context-specific passwords): 10 to 128 characters, at least 4 different
 * characters, not a well-known password, not the email, its local part or the name.
 * Returns the first reason it fails, as a sentence the sign-up form can show, or null.
 */
export function passwordProblem(password: string, email: string, name: string): string | null {
  if (password.length < 10) return `the password must have at least 10 characters (it has ${password.length})`;
  if (password.length > 128) return 'the password must have at most 128 characters';
  if (/^(.)\1*$/.test(password)) return 'the password must not be one repeated character';
  if (new Set(password).size < 4) return 'the password must use at least 4 different characters';
  const lower = password.toLowerCase();
  if (COMMON.has(lower)) return 'the password is one of the most common passwords; choose another';
  const mail = normalizeEmail(email);
  if (lower === mail || lower === mail.split('@')[0] || lower === name.trim().toLowerCase()) {
    return 'the password must not be your email or name';
  }
  return null;
}

/** Normalises an email for storage and lookup: Unicode NFKC, trimmed, lower-cased. */
export const normalizeEmail = (email: string): string => email.normalize('NFKC').trim().toLowerCase();
