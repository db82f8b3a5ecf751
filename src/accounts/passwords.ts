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

/**
 * The password policy: 10 to 128 characters, not the email or name, not one repeated character.
 * Returns the first reason it fails, or null. (NIST SP 800-63B §3.1.1.2: length over composition.)
 */
export function passwordProblem(password: string, email: string, name: string): string | null {
  if (password.length < 10) return 'the password must have at least 10 characters';
  if (password.length > 128) return 'the password must have at most 128 characters';
  if (/^(.)\1*$/.test(password)) return 'the password must not be one repeated character';
  const lower = password.toLowerCase();
  if (lower === email.toLowerCase() || lower === email.split('@')[0].toLowerCase() || lower === name.toLowerCase()) {
    return 'the password must not be your email or name';
  }
  return null;
}

/** Normalises an email for storage and lookup: trimmed, lower-cased. */
export const normalizeEmail = (email: string): string => email.trim().toLowerCase();
