/**
 * A Redis or MariaDB of a test's own, on a free loopback port, that the test may stop and start
 * (outage tests must not take the machine's shared services away from other test files). One
 * implementation, shared with the rehearsal's restart faults.
 */
export { privateMariaDB, privateRedis, type PrivateService } from '../../bench/private-services';
