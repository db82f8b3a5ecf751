import { UsageError } from './cli';
import { parseRehearsalArgs, type RehearsalOptions } from './rehearsal';

const parse = (argv: string[]) => parseRehearsalArgs(argv) as RehearsalOptions;

describe('rehearsal options', () => {
  it('gives holds and orders a minute by default: longer than the spike queues, short enough to turn the stock over', () => {
    expect(parse([])).toMatchObject({ holdTtlSeconds: 60, orderTimeoutSeconds: 60, admissionTtlSeconds: 60, shoppers: 20_000, units: 10_000 });
  });

  it('takes the hold and order lifetimes from the command line', () => {
    expect(parse(['--hold-ttl', '60', '--order-timeout', '90', '--admission-ttl', '300'])).toMatchObject({ holdTtlSeconds: 60, orderTimeoutSeconds: 90, admissionTtlSeconds: 300 });
  });

  it('refuses lifetimes out of range or not whole, naming the option', () => {
    expect(() => parse(['--hold-ttl', '2'])).toThrow(UsageError);
    expect(() => parse(['--hold-ttl', '2'])).toThrow(/hold-ttl/);
    expect(() => parse(['--order-timeout', '1.5'])).toThrow(/order-timeout/);
    expect(() => parse(['--order-timeout', '99999'])).toThrow(UsageError);
    expect(() => parse(['--admission-ttl', '5'])).toThrow(/admission-ttl/);
  });
});
