/** The shipping form's model: remembered values, validation and the wire shape. */
import type { ShippingAddress } from './types';

/** The form's fields as typed (all strings; `line2` may stay empty). */
export interface ShippingForm {
  name: string;
  phone: string;
  line1: string;
  line2: string;
  postalCode: string;
  country: string;
}

/** Field name -> what is wrong with it. */
export type ShippingErrors = Partial<Record<keyof ShippingForm, string>>;

const KEY = 'dealrush.shipping';

/** The last address used in this browser, or an empty form shipping to Korea. */
export function rememberedShipping(): ShippingForm {
  const empty: ShippingForm = { name: '', phone: '', line1: '', line2: '', postalCode: '', country: 'KR' };
  try {
    const saved = JSON.parse(localStorage.getItem(KEY) ?? 'null') as Partial<ShippingForm> | null;
    if (!saved || typeof saved !== 'object') return empty;
    const form = { ...empty };
    for (const key of Object.keys(empty) as (keyof ShippingForm)[]) {
      if (typeof saved[key] === 'string') form[key] = saved[key];
    }
    return form;
  } catch {
    return empty;
  }
}

/** Remembers an address for the next purchase. */
export function rememberShipping(form: ShippingForm): void {
  try {
    localStorage.setItem(KEY, JSON.stringify(form));
  } catch {
    // storage unavailable: the form is simply not prefilled next time
  }
}

/** Checks the form with the server's rules (ShippingAddressSchema); empty when valid. */
export function validateShipping(form: ShippingForm): ShippingErrors {
  const errors: ShippingErrors = {};
  if (!form.name.trim()) errors.name = 'Enter the recipient’s name.';
  const phone = form.phone.trim();
  if (phone.length < 3 || !/^[0-9+()\- ]+$/.test(phone)) errors.phone = 'Enter a phone number (digits, + - ( ) and spaces).';
  if (!form.line1.trim()) errors.line1 = 'Enter the street address.';
  if (!form.postalCode.trim()) errors.postalCode = 'Enter the postal code.';
  if (!/^[A-Za-z]{2}$/.test(form.country.trim())) errors.country = 'Use a two-letter country code, e.g. KR.';
  return errors;
}

/** The address as `POST /api/orders` takes it: trimmed, `line2` only when given. */
export function toShippingAddress(form: ShippingForm): ShippingAddress {
  const address: ShippingAddress = {
    name: form.name.trim(),
    phone: form.phone.trim(),
    line1: form.line1.trim(),
    postalCode: form.postalCode.trim(),
    country: form.country.trim().toUpperCase(),
  };
  const line2 = form.line2.trim();
  if (line2) address.line2 = line2;
  return address;
}
